"""Hand-written pairs, part 1: customer support, coding help, internal documents (RAG).

One pair a line: `kind | a | b`. See README.md for the labels and kinds.
"""
# A pair stays on one line to be reviewed as one.
# ruff: noqa: E501

SUPPORT = {
    "paraphrase": """
reword | How do I reset my password? | I forgot my password. How can I set a new one?
typo | where can i download my invoices | were can I downlaod my invoices?
formality | Hey, can u tell me how to cancel my subscription | Could you please explain how I can cancel my subscription?
length | Change billing email | I need to change the email address that receives our billing notices. How do I do that?
reorder | My order hasn't arrived yet, it's been two weeks. Where is it? | It's been two weeks and my order still hasn't arrived. Where is it?
reword | Can I get a refund if I return an item after 30 days? | Is a refund possible for items returned more than 30 days after purchase?
reword | How do I add a new user to my team workspace? | What's the way to invite a colleague into our team workspace?
typo | how to update my shipping adress | How to update my shipping address
formality | yo why was my card declined | Could you help me understand why my card payment was declined?
length | Export contacts to CSV | Is there a way to export all of my contacts into a CSV file so I can open them in Excel?
reword | What payment methods do you accept? | Which ways can I pay you?
reword | How long does standard delivery take? | What's the usual shipping time for standard delivery?
reorder | To change my plan from monthly to annual, what do I need to do? | What do I need to do to change my plan from monthly to annual?
reword | Is there a student discount? | Do you offer any discounts for students?
typo | my acount is locked after too many login attemps | My account got locked after too many login attempts
formality | The app keeps crashing when I open it, fix it | Hello, the app crashes every time I launch it. Could you help?
reword | How can I delete my account permanently? | I want to permanently close and erase my account, how?
reorder | Where do I find my API key in the dashboard? | In the dashboard, where is my API key shown?
reword | Can I change the delivery address after placing an order? | Is it possible to edit the shipping address once the order is placed?
length | Talk to a human | I don't want the bot. How can I talk to a real person from your support team?
reword | Why am I being charged twice this month? | I see two charges on my statement this month, why?
reword | Do you ship to Canada? | Can I get orders delivered to Canada?
typo | how do i aply a promo code at checkout | How do I apply a promo code at checkout?
formality | Gimme the steps to connect Slack | Please list the steps for connecting our Slack workspace.
reword | How do I turn off email notifications? | How can I stop getting notification emails?
reword | What happens to my data if I cancel? | If I cancel my subscription, what do you do with my data?
reorder | For a damaged product, how do I request a replacement? | How do I request a replacement for a product that arrived damaged?
reword | Is my payment information stored securely? | Do you keep my card details safe?
length | Track my package | I placed an order last week and I'd like to know where the package is right now. How can I track it?
reword | Can I pause my subscription instead of cancelling? | Is there an option to put my subscription on hold rather than cancel it?
reword | How do I download the mobile app on Android? | Where can I get your app for my Android phone?
typo | why is my verifcation email not arriving | Why isn't my verification email arriving?
formality | how much is the pro plan | Could you tell me what the Pro plan costs?
reword | My discount code says it's invalid | The coupon code I entered is being rejected as invalid.
reword | How do I merge two accounts into one? | Can I combine my two accounts into a single one?
reword | What are your customer support hours? | When is your support team available?
""",
    "near_miss": """
negation | How do I enable two-factor authentication? | How do I disable two-factor authentication?
entity | What is the refund policy for orders shipped to Germany? | What is the refund policy for orders shipped to France?
number | Can I return an item after 14 days? | Can I return an item after 60 days?
entity | How do I connect my account to Salesforce? | How do I connect my account to HubSpot?
negation | Why was my card charged for the trial? | Why wasn't my card charged for the trial?
scope | How do I delete a single message from the chat history? | How do I delete the entire chat history?
entity | How do I upgrade from the Basic plan to Pro? | How do I upgrade from the Pro plan to Enterprise?
direction | How do I transfer ownership of the workspace to another admin? | How do I take over ownership of the workspace from another admin?
time | What's your delivery time for orders placed on Friday? | What's your delivery time for orders placed on Sunday?
number | Is shipping free for orders over $50? | Is shipping free for orders over $100?
language | How do I change the language of the app to Spanish? | How do I change the language of the app to Portuguese?
negation | How do I subscribe to the newsletter? | How do I unsubscribe from the newsletter?
scope | How do I reset the password for one user in my team? | How do I reset the passwords for all users in my team?
format | Can I download my invoice as a PDF? | Can I download my invoice as a CSV?
entity | Do you accept PayPal? | Do you accept Apple Pay?
time | Can I cancel my order within the first hour? | Can I cancel my order after it has shipped?
number | Can my plan have more than 10 users? | Can my plan have more than 100 users?
entity | How do I update the credit card on file? | How do I update the bank account on file?
negation | Why can I see other team members' files? | Why can't I see other team members' files?
direction | How do I move contacts from Gmail into your app? | How do I move contacts from your app into Gmail?
scope | How do I archive one project? | How do I archive all finished projects at once?
entity | Is the store in Lyon open on public holidays? | Is the store in Lille open on public holidays?
time | Why was I billed in March for a plan I cancelled in February? | Why was I billed in April for a plan I cancelled in February?
number | I was charged $19.99 but the listed price is $14.99 | I was charged $14.99 but the listed price is $19.99
entity | Is phone support included in the Pro plan? | Is phone support included in the free plan?
entity | How do I change my account email? | How do I change my account phone number?
format | Can I get my receipts by email? | Can I get my receipts by post?
scope | I want a refund for one item in my order | I want a refund for my whole order
negation | How do I make my profile public? | How do I make my profile private?
unit | Does the parcel limit of 20 kg include packaging? | Does the parcel limit of 20 lb include packaging?
entity | How do I log in with Google? | How do I log in with GitHub?
time | Can I change my delivery slot to tomorrow morning? | Can I change my delivery slot to tomorrow evening?
negation | How do I turn on automatic renewal? | How do I turn off automatic renewal?
scope | Can I use two discount codes on one order? | Can I use one discount code on two orders?
entity | Is the warranty valid in the UK? | Is the warranty valid in the US?
number | My order number is 48213 and it's late | My order number is 48231 and it's late
""",
    "unrelated": """
topic | How do I reset my two-step verification backup codes? | What colours does the winter jacket come in?
topic | Can I order gift wrapping? | Why is the dashboard loading slowly today?
topic | How do I report a bug in the iOS app? | Do you price match competitors?
topic | Is the blender dishwasher safe? | How do I add a VAT number to my invoices?
topic | What's the battery life of the X2 headphones? | Can I change my username?
topic | How do I leave a product review? | Where is my loyalty points balance?
topic | Do you sell gift cards? | How do I set up single sign-on with Okta?
topic | Why did my order get split into two parcels? | Can I schedule a demo with sales?
topic | Is the sofa assembled on delivery? | How do I restore a deleted file?
topic | What's the size chart for kids' shoes? | How can I become a reseller?
""",
}

CODING = {
    "paraphrase": """
reword | How do I reverse a list in Python? | What's the way to reverse a Python list?
reword | How to check if a key exists in a Python dict | Python: test whether a dictionary contains a given key
typo | how do i revert the last git comit | How do I revert the last git commit?
formality | git undo last push pls | Could you explain how to undo my most recent git push?
length | Read a CSV with pandas | I have a CSV file on disk. How do I load it into a pandas DataFrame?
reword | What does the "yield" keyword do in Python? | Explain Python's yield keyword.
reword | How do I center a div horizontally and vertically with CSS? | CSS: what's the way to center a div both vertically and horizontally?
reorder | In JavaScript, how do I deep clone an object? | How do I deep clone an object in JavaScript?
reword | Why am I getting "TypeError: 'NoneType' object is not subscriptable"? | What causes the Python error TypeError: 'NoneType' object is not subscriptable?
reword | How do I rename a branch in git? | What's the git command to rename a branch?
typo | convert string to int in javascrpit | Convert a string to an integer in JavaScript
formality | sql get duplicate rows | How would I write a SQL query that finds duplicate rows in a table?
reword | What is the difference between a process and a thread? | How do processes differ from threads?
reword | How do I make an HTTP GET request in Go? | Go: how to send an HTTP GET request?
length | Docker remove all stopped containers | My machine is full of old Docker containers that have exited. What command removes all the stopped ones?
reword | Explain big O notation simply | Can you give me a simple explanation of big-O notation?
reorder | With a regex, how do I match an email address? | How do I match an email address with a regex?
reword | How do I create a virtual environment in Python? | What's the command to set up a Python venv?
reword | What does CORS mean and why does my fetch fail with it? | My fetch call fails with a CORS error. What is CORS?
typo | how to sort a dictionry by value in python | How to sort a dictionary by value in Python
reword | How do I write a unit test with pytest? | Show me how to write a basic pytest test.
formality | whats a closure in js | Could you explain what a closure is in JavaScript?
reword | How can I find which process is using port 8080 on Linux? | On Linux, how do I see what's listening on port 8080?
reword | How do I squash my last three commits? | Combine the last 3 git commits into one
reword | What's the difference between let and const in JavaScript? | JavaScript let vs const: how do they differ?
length | Kubernetes restart deployment | How do I restart all the pods of a Kubernetes deployment without changing its spec?
reword | How do I read a file line by line in Rust? | Rust: iterate over the lines of a file
reword | Why is my React component rendering twice? | My React component renders two times, why?
typo | how to handel exceptions in java | How to handle exceptions in Java
reword | How do I pretty-print JSON from the command line? | Format JSON nicely in the terminal
reword | What is a race condition? | Explain what a race condition is in concurrent programming.
reorder | How do I add a column to an existing table in PostgreSQL? | PostgreSQL: add a new column to a table that already exists
formality | explain async await python | Would you explain how async and await work in Python?
reword | How do I measure how long a function takes in Python? | Time the execution of a Python function
reorder | To install a specific version of a package with npm, what do I type? | What do I type to install a specific version of a package with npm?
reword | What's the best way to store passwords in a database? | How should passwords be stored in a database?
""",
    "near_miss": """
language | How do I remove duplicates from an array in JavaScript? | How do I remove duplicates from a list in Python?
language | Write a function to check if a number is prime in C | Write a function to check if a number is prime in Haskell
negation | How do I make git ignore a file? | How do I make git stop ignoring a file?
direction | Convert a JSON string to a Python dict | Convert a Python dict to a JSON string
direction | How do I merge main into my feature branch? | How do I merge my feature branch into main?
entity | How do I connect to MySQL from Node.js? | How do I connect to MongoDB from Node.js?
number | Python: round a float to 2 decimal places | Python: round a float to 4 decimal places
scope | How do I delete a local git branch? | How do I delete a remote git branch?
format | Format a date as YYYY-MM-DD in JavaScript | Format a date as DD/MM/YYYY in JavaScript
language | What's the difference between == and === in JavaScript? | What's the difference between == and is in Python?
entity | How do I install Node 20 on Ubuntu? | How do I install Node 20 on macOS?
entity | Python list comprehension for the squares of 1 to 10 | Python list comprehension for the cubes of 1 to 10
negation | Select rows where the column is NULL in SQL | Select rows where the column is NOT NULL in SQL
time | Get the current date in Python | Get yesterday's date in Python
scope | How do I undo changes to one file in git? | How do I undo all uncommitted changes in git?
entity | Sort a list of dicts by the "age" key | Sort a list of dicts by the "name" key
direction | Convert an ArrayList to an array in Java | Convert an array to an ArrayList in Java
unit | Convert a Unix timestamp in seconds to a Date in JavaScript | Convert a Unix timestamp in milliseconds to a Date in JavaScript
number | How do I install Python 3.12 on Windows? | How do I install Python 3.8 on Windows?
negation | What is a blocking call in asyncio? | What is a non-blocking call in asyncio?
entity | Write a Dockerfile for a Flask app | Write a Dockerfile for a Django app
format | Parse a YAML file in Python | Parse a TOML file in Python
number | Find the largest element in an array | Find the two largest elements in an array
language | How do I declare a constant in C? | How do I declare a constant in Go?
negation | Why does my while loop never run? | Why does my while loop never stop?
entity | Regex to match a US zip code | Regex to match a Canadian postal code
entity | Why does my LEFT JOIN return more rows than the left table? | Why does my INNER JOIN return fewer rows than the left table?
number | What does HTTP status 401 mean? | What does HTTP status 403 mean?
number | What's new in Java 17? | What's new in Java 21?
scope | Remove the first character of a string in Python | Remove the last character of a string in Python
negation | How do I turn on strict null checks in TypeScript? | How do I turn off strict null checks in TypeScript?
format | Write a pandas DataFrame to Excel | Write a pandas DataFrame to Parquet
entity | How do I mock a function in Jest? | How do I mock a function in pytest?
unit | Cron expression to run a job every 5 minutes | Cron expression to run a job every 5 hours
scope | What is the time complexity of quicksort in the average case? | What is the time complexity of quicksort in the worst case?
number | Create an array of 10 zeros in numpy | Create a 10x10 array of zeros in numpy
""",
    "unrelated": """
topic | How do I profile memory usage in Python? | What is a monad in Haskell?
topic | Explain Kubernetes liveness probes | How do I write a recursive CTE in SQL?
topic | What's a good name for a boolean that says a user is active? | How do I set up ESLint with Prettier?
topic | Why is the Rust borrow checker complaining about a mutable borrow? | How do I configure nginx as a reverse proxy?
topic | How do I use environment variables in a Vite app? | What is the CAP theorem?
topic | Explain dependency injection | How do I paginate results with the GitHub API?
topic | What's the difference between TCP and UDP? | How do I write a bash loop over the files in a folder?
topic | Generate a UUID in Go | How do I debounce an input in React?
topic | What is a memory leak in JavaScript? | How do I set up GitHub Actions to run tests on every push?
topic | How do I compile a C program with gcc? | What is event sourcing?
""",
}

RAG = {
    "paraphrase": """
reword | What does our travel policy say about business class flights? | Per the travel policy, when can employees fly business class?
reword | How many vacation days do new employees get? | What's the annual leave allowance for new hires?
reword | Summarize the Q3 board report | Give me a summary of the third-quarter board report
reword | Who approves expenses over 5,000 euros? | Who has to sign off on expenses above €5,000?
typo | whats the parental leave polcy | What's the parental leave policy?
formality | wifi password office | Could you tell me the office Wi-Fi password?
length | Onboarding checklist for new engineers | Where can I find the onboarding checklist that new engineers are supposed to follow when they join?
reword | According to the security handbook, how often must passwords be rotated? | How frequently does the security handbook require password changes?
reword | What are the main findings of the customer churn analysis deck? | Summarize the key findings from the churn analysis presentation
reword | What is the notice period in the standard employment contract? | How much notice does the standard employment contract require?
reword | Which vendors are on the approved supplier list? | List the suppliers that have been approved.
reorder | In the incident postmortem from March, what was the root cause? | What was the root cause in the March incident postmortem?
reword | Does the remote work policy allow working from abroad? | Can I work from another country under the remote work policy?
reword | What does the contract with Acme say about termination? | Under the Acme agreement, how can either party terminate?
typo | summarise the employe handbook section on overtime | Summarise the employee handbook section on overtime
formality | who owns the billing service | Could you tell me which team owns the billing service?
reorder | What are the payment terms in the Northwind contract? | In the Northwind contract, what are the terms of payment?
reword | How do I request access to the data warehouse? | What's the process for getting data warehouse access?
length | Meeting room booking rules | What are the rules for booking meeting rooms in the office, according to the facilities guide?
reword | What did the product roadmap say about the mobile app? | What's planned for the mobile app in the product roadmap?
reword | What is the company's policy on accepting gifts from suppliers? | Can employees accept gifts from vendors under our policy?
reword | Explain the on-call escalation process from the runbook | How does on-call escalation work, according to the runbook?
reword | What does clause 7 of the NDA cover? | Summarize clause 7 of the NDA.
typo | how do I submit a reimbursment claim | How do I submit a reimbursement claim?
formality | tl;dr of the security audit | Please provide a brief summary of the security audit report.
reword | What SLA do we offer enterprise customers? | Which service-level agreement applies to enterprise clients?
reword | When is the deadline for the annual performance reviews? | By what date must annual performance reviews be completed?
reword | What are the key risks listed in the project charter? | List the main risks identified in the project charter.
reorder | For the Berlin office, what are the opening hours? | What are the opening hours of the Berlin office?
reword | How is the sales commission calculated per the comp plan? | According to the compensation plan, how do sales commissions get computed?
reword | What's our data retention period for customer logs? | How long do we keep customer logs?
length | Brand colours | What are the official brand colours listed in the brand guidelines?
reword | What does the architecture doc say about caching? | How does the architecture document describe caching?
reword | Who is the point of contact for GDPR questions? | Whom should I ask about GDPR matters?
reword | What changed in version 2.3 of the API according to the changelog? | Per the changelog, what's new in API v2.3?
reword | What's the budget for the marketing team this year? | How much budget does marketing have this year?
""",
    "near_miss": """
entity | What's the per diem for trips to London in the travel policy? | What's the per diem for trips to Paris in the travel policy?
number | How many vacation days do employees get after 5 years? | How many vacation days do employees get after 10 years?
time | Summarize the Q1 2024 earnings call transcript | Summarize the Q1 2023 earnings call transcript
entity | Who approves expenses in the Sales department? | Who approves expenses in the Engineering department?
entity | What's the sick leave policy for contractors? | What's the sick leave policy for full-time employees?
entity | What does the contract with Globex say about liability? | What does the contract with Initech say about liability?
scope | Summarize section 4 of the vendor onboarding guide | Summarize the whole vendor onboarding guide
number | What does clause 9 of the master services agreement say? | What does clause 12 of the master services agreement say?
negation | Which expenses are reimbursable under the policy? | Which expenses are not reimbursable under the policy?
format | Give me the incident timeline as a table | Give me the incident timeline as a bulleted list
time | What were the sales figures for January? | What were the sales figures for February?
entity | Which team owns the search service? | Which team owns the notifications service?
negation | Which roles are eligible for the remote work stipend? | Which roles are ineligible for the remote work stipend?
time | What's the holiday schedule for 2024? | What's the holiday schedule for 2025?
entity | What's the address of the Madrid office? | What's the address of the Lisbon office?
entity | Who are the stakeholders of Project Phoenix? | Who are the stakeholders of Project Atlas?
number | Do purchases under $1,000 need a purchase order? | Do purchases under $10,000 need a purchase order?
negation | What's covered by the health insurance plan? | What's excluded from the health insurance plan?
direction | What's the process for transferring an employee from the London office to the New York office? | What's the process for transferring an employee from the New York office to the London office?
scope | Extract the action items from the meeting notes | Extract the decisions from the meeting notes
time | What was decided in the January all-hands? | What was decided in the June all-hands?
entity | What does the runbook say about restarting the payment gateway? | What does the runbook say about restarting the message queue?
scope | Summarize the customer interviews from the pilot | Summarize only the negative feedback from the pilot customer interviews
entity | How long must we keep invoices under the finance policy? | How long must we keep payroll records under the finance policy?
negation | Which services are in scope for the SOC 2 audit? | Which services are out of scope for the SOC 2 audit?
entity | What does the style guide say about the Oxford comma? | What does the style guide say about em dashes?
time | What was our churn rate last quarter? | What was our churn rate last year?
number | What are the key results for OKR 2? | What are the key results for OKR 3?
language | Is the employee handbook available in French? | Is the employee handbook available in Japanese?
entity | Which KPIs does the finance dashboard track? | Which KPIs does the support dashboard track?
time | Compare the 2023 and 2024 versions of the security policy | Compare the 2022 and 2024 versions of the security policy
entity | What are the requirements for a laptop to access the VPN? | What are the requirements for a phone to access the VPN?
language | Answer in English: what does the refund section of the policy document say? | Answer in German: what does the refund section of the policy document say?
entity | What was the headcount of the engineering org at the end of Q2? | What was the headcount of the sales org at the end of Q2?
format | List the open risks from the project status report as a table | Write the open risks from the project status report as an email to the sponsor
negation | What did the retrospective say went well? | What did the retrospective say went badly?
""",
    "unrelated": """
topic | Where is the parking garage entrance? | What's the approval flow for open-source contributions?
topic | How do I book a seat on the company ski trip? | Which database does the billing service use?
topic | What's the dress code for client meetings? | Summarize the competitor analysis for Germany
topic | Who wrote the API design guidelines? | When is payroll processed each month?
topic | What tools are approved for screen recording? | Explain the deployment freeze policy in December
topic | How does the mentorship program work? | Where are the design files for the new logo?
topic | How do I request a new monitor? | What are the terms of the office lease?
topic | What's the referral bonus for hiring engineers? | How do we handle security incidents involving customer data?
topic | What's in the Q1 hiring plan? | Where is the list of public holidays in India?
topic | Who is on the architecture review board? | How do I get a company credit card?
""",
}

DOMAINS = {"support": SUPPORT, "coding": CODING, "rag": RAG}
