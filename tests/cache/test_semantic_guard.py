"""The semantic cache's guard: each rule refuses what it should, and paraphrases still pass.
Examples are written for these tests (none is taken from bench/data/semantic_cache/pairs.jsonl)."""

from __future__ import annotations

import pytest

from corral.cache.semantic_guard import compatible, why_not

REFUSED = [
    # number: digits, number words, ordinals, thousands separators, exponents
    ("number", "How do I split a PDF into 3 parts?", "How do I split a PDF into 5 parts?"),
    ("number", "Give me seven tips for better sleep", "Give me twelve tips for better sleep"),
    ("number", "Who won the third stage of the race?", "Who won the fifth stage of the race?"),
    ("number", "Is a budget of $2,500 enough for a laptop?", "Is a budget of $25,000 enough for a laptop?"),
    ("number", "What is 3^4?", "What is 4^3?"),
    ("number", "Summarize chapter 2 of the handbook", "Summarize the handbook"),
    # quantity: the same number bound to another unit
    ("quantity", "How many seconds are in 90 minutes?", "How many minutes are in 90 seconds?"),
    ("quantity", "Convert 12 inches to cm", "Convert 12 cm to inches"),
    # operator
    ("operator", "Solve 5y + 2 = 17", "Solve 5y - 2 = 17"),
    # negation: parity of negators, and negated forms
    ("negation", "Why does the build pass on CI?", "Why doesn't the build pass on CI?"),
    ("negation", "List the fruits that contain vitamin C", "List the fruits that contain no vitamin C"),
    ("negation", "Make coffee without sugar", "Make coffee with sugar"),
    ("negation", "Which files are readable by the server?", "Which files are unreadable by the server?"),
    # opposite
    ("opposite", "How do I enable dark mode on my phone?", "How do I disable dark mode on my phone?"),
    ("opposite", "Should I buy shares before the split?", "Should I sell shares before the split?"),
    ("opposite", "How do I export contacts from my address book?",
     "How do I import contacts from my address book?"),
    ("opposite", "Sort the names in ascending order", "Sort the names in descending order"),
    ("opposite", "Is it cheaper to fly before the holidays?", "Is it cheaper to fly after the holidays?"),
    ("opposite", "Show the highest scores in the league", "Show the lowest scores in the league"),
    # scope
    ("scope", "Delete every draft in my mailbox", "Delete only the oldest draft in my mailbox"),
    ("scope", "Translate the entire page", "Translate the page"),
    # quoted strings
    ("quoted", 'What does "idempotent" mean?', 'What does "immutable" mean?'),
    # entity: capitalised names, acronyms, code identifiers
    ("entity", "What is the population of Norway?", "What is the population of Sweden?"),
    ("entity", "How do I set up Nginx as a reverse proxy?", "How do I set up Caddy as a reverse proxy?"),
    ("entity", "What does os.path.join do?", "What does os.path.split do?"),
    ("entity", "Why is my_list empty after the loop?", "Why is user_ids empty after the loop?"),
    # unit, time, language, format lexicons (lower-case words count too)
    ("unit", "how heavy is a bowling ball in kg", "how heavy is a bowling ball in lb"),
    ("time", "Is the museum open on saturday?", "Is the museum open on monday?"),
    ("time", "What's the weather like in Lima in october?", "What's the weather like in Lima in march?"),
    ("language", "how do I parse json in ruby", "how do I parse json in kotlin"),
    ("language", "translate this menu into spanish", "translate this menu into dutch"),
    ("format", "Export the report as csv", "Export the report as xlsx"),
    ("format", "Write a limerick about a lazy cat", "Write a sonnet about a lazy cat"),
    # order: a directional word between shared terms, or neighbours swapped around it
    ("order", "Translate this line from German to French", "Translate this line from French to German"),
    ("order", "Is Rust faster than Go?", "Is Go faster than Rust?"),
    ("order", "How do I copy settings from staging into production?",
     "How do I copy settings from production into staging?"),
    ("order", "Migrate the table from mysql to postgres", "Migrate the table from postgres to mysql"),
    # substitution: a minimal pair
    ("substitution", "What do giraffes eat in the wild?", "What do zebras eat in the wild?"),
    ("substitution", "How long should I boil an egg?", "How long should I poach an egg?"),
]

PASSED = [
    # typos, case and punctuation
    ("how do i chnage my billing adress", "How do I change my billing address?"),
    ("whats the capital of peru", "What's the capital of Peru?"),
    ("recieve notifications on android", "Receive notifications on Android"),
    # reordering without a directional word
    ("On Windows, how do I take a screenshot?", "How do I take a screenshot on Windows?"),
    ("If the deploy fails, how do I roll back?", "How do I roll back if the deploy fails?"),
    # formality and length
    ("yo how do i undo a commit", "Could you please explain how I can undo a commit?"),
    ("Gift ideas for a gardener", "Could you suggest some gift ideas for someone who loves gardening?"),
    # the same number written two ways, the same quantity in another unit spelling
    ("Give me 3 reasons to learn Go", "Give me three reasons to learn Go"),
    ("Convert 10 km to miles", "How many miles are 10 kilometers?"),
    ("What is 20% of 150?", "Calculate 20 percent of 150"),
    ("Book a table for 4 at 7 pm", "Book a table for four at 7 pm"),
    # "one" as a pronoun, "from ... to" in the same direction, rewording of several words
    ("My phone broke, how do I set up a new one?", "My phone broke. How do I set up a replacement?"),
    ("Cheapest way to get from Lyon to Nice", "What's the cheapest way to get from Lyon to Nice?"),
    ("How can I speed up my laptop?", "What are ways to make my laptop run faster?"),
    ("Explain recursion simply", "Can you explain recursion in simple terms?"),
]


@pytest.mark.parametrize(("rule", "query", "cached"), REFUSED)
def test_each_rule_refuses_what_changes_the_answer(rule: str, query: str, cached: str) -> None:
    assert why_not(query, cached) == rule
    assert not compatible(query, cached)
    assert why_not(cached, query) is not None  # symmetric: the other text as the query


@pytest.mark.parametrize(("query", "cached"), PASSED)
def test_paraphrases_pass(query: str, cached: str) -> None:
    assert why_not(query, cached) is None
    assert why_not(cached, query) is None
    assert compatible(query, cached)


def test_identical_texts_pass() -> None:
    text = "How do I rotate my API keys every 90 days?"
    assert compatible(text, text)
