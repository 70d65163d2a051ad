"""The case-study benchmark's parts (bench/case_study.py runs them): the daily load shape, the
recording proxy in front of the simulator, the processes (simulator, gateway, report service) and
the two load runners (the Corral service and the naive prototype)."""
