"""Hand-written pairs, part 2: general knowledge, math and units, writing tasks, travel.

One pair a line: `kind | a | b`. See README.md for the labels and kinds.
"""
# A pair stays on one line to be reviewed as one; texts keep what users type (a Unicode minus sign).
# ruff: noqa: E501, RUF001

GENERAL = {
    "paraphrase": """
reword | What is the capital of Australia? | Which city is Australia's capital?
reword | Who wrote Pride and Prejudice? | Who is the author of Pride and Prejudice?
reword | Why is the sky blue? | What makes the sky look blue?
typo | how does photosynthsis work | How does photosynthesis work?
formality | whats the tallest mountain in the world | Could you tell me which mountain is the tallest on Earth?
length | Causes of World War I | What were the main causes that led to the outbreak of the First World War?
reword | How far is the Moon from Earth? | What's the distance between the Earth and the Moon?
reword | When did the Berlin Wall fall? | In what year did the Berlin Wall come down?
reword | How many bones are in the adult human body? | How many bones does an adult human have?
reorder | In which country were the first Olympic Games held? | The first Olympic Games were held in which country?
reword | Explain how vaccines work | How do vaccines actually protect you?
reword | What is the speed of light? | How fast does light travel?
typo | who paintd the mona lisa | Who painted the Mona Lisa?
formality | why do cats purr lol | Could you explain why cats purr?
reword | What's the difference between weather and climate? | How is climate different from weather?
reword | What is inflation? | Explain what inflation means in economics.
length | Boiling point of water | At sea level, what temperature does water boil at?
reword | How do bees make honey? | What's the process bees use to produce honey?
reword | What language is spoken in Brazil? | Which language do people in Brazil speak?
reword | Why do we have leap years? | What's the reason leap years exist?
reorder | For a healthy adult, how many hours of sleep are recommended? | How many hours of sleep are recommended for a healthy adult?
reword | What causes earthquakes? | Why do earthquakes happen?
typo | whats the largest ocean on erth | What's the largest ocean on Earth?
formality | tell me about black holes | Could you give me an overview of what black holes are?
reword | Who was the first person to walk on the Moon? | Which astronaut first set foot on the Moon?
reword | How does a rainbow form? | What causes rainbows to appear?
reword | What is the population of Japan? | How many people live in Japan?
reword | What is DNA made of? | What are the building blocks of DNA?
length | Meaning of carpe diem | What does the Latin phrase "carpe diem" mean?
reword | Is a tomato a fruit or a vegetable? | Tomato: fruit or vegetable?
reword | How long do elephants live? | What's the lifespan of an elephant?
reword | What's the chemical symbol for gold? | Which element symbol stands for gold?
reword | How do airplanes stay in the air? | What keeps a plane up in the sky?
formality | greenhouse effect explain | Would you please explain the greenhouse effect?
reword | Who invented the telephone? | Who is credited with inventing the telephone?
reword | Why do onions make you cry? | What is it about cutting onions that makes your eyes water?
""",
    "near_miss": """
entity | What is the capital of Canada? | What is the capital of New Zealand?
entity | Who wrote Crime and Punishment? | Who wrote War and Peace?
time | Who was the US president in 1960? | Who was the US president in 1970?
number | What happened in Paris in 1789? | What happened in Paris in 1798?
entity | What is the boiling point of ethanol? | What is the freezing point of ethanol?
entity | How far is Mars from the Sun? | How far is Venus from the Sun?
negation | Which planets have rings? | Which planets don't have rings?
scope | What is the population of London? | What is the population of the United Kingdom?
entity | What is the chemical formula of table salt? | What is the chemical formula of baking soda?
direction | Why did the Roman Empire rise? | Why did the Roman Empire fall?
time | What was the tallest building in the world in 1950? | What is the tallest building in the world today?
entity | What's the national animal of Scotland? | What's the national animal of Wales?
number | Who won the FIFA World Cup in 2014? | Who won the FIFA World Cup in 2018?
negation | Which foods are safe for dogs to eat? | Which foods are toxic for dogs to eat?
entity | How do bats navigate in the dark? | How do owls navigate in the dark?
scope | How many moons does Jupiter have? | How many moons are there in the solar system?
entity | When was the Eiffel Tower built? | When was the Statue of Liberty built?
unit | How long is the Nile in kilometers? | How long is the Nile in miles?
time | What time is sunrise in Oslo in June? | What time is sunrise in Oslo in December?
entity | What's the difference between a virus and a bacterium? | What's the difference between a virus and a fungus?
language | How do you say "thank you" in Japanese? | How do you say "thank you" in Korean?
negation | Why do some people like cilantro? | Why do some people dislike cilantro?
entity | Who discovered penicillin? | Who discovered insulin?
number | What is the 10th element of the periodic table? | What is the 20th element of the periodic table?
scope | Summarize the plot of the first Harry Potter book | Summarize the plot of the whole Harry Potter series
entity | What's the main cause of the seasons on Earth? | What's the main cause of the seasons on Mars?
entity | Is coffee bad for your heart? | Is coffee bad for your kidneys?
entity | How many players are on a soccer team? | How many players are on a rugby union team?
time | What did people eat in medieval England? | What did people eat in Victorian England?
direction | Which countries drive on the left? | Which countries drive on the right?
entity | What's the gestation period of a horse? | What's the gestation period of a cow?
unit | What's the normal body temperature in Celsius? | What's the normal body temperature in Fahrenheit?
scope | What are the rules of chess? | What are the rules for castling in chess?
entity | Which is the largest desert in Africa? | Which is the largest desert in Asia?
time | What was the world population in 1900? | What was the world population in 1950?
negation | Which metals are magnetic? | Which metals are not magnetic?
""",
    "unrelated": """
topic | What's a haiku? | How do volcanoes form?
topic | Who built Machu Picchu? | Why do leaves change colour in autumn?
topic | How do noise-cancelling headphones work? | What is the Magna Carta?
topic | Why is the Dead Sea so salty? | Who composed The Four Seasons?
topic | What is quantum entanglement? | How are pearls formed?
topic | Why do we yawn? | What was the Silk Road?
topic | How does GPS know where I am? | Who were the Vikings?
topic | What is the Fibonacci sequence? | How do chameleons change colour?
topic | What's the origin of Halloween? | How do solar panels generate electricity?
topic | What is stoicism? | How deep is the Mariana Trench?
""",
}

MATH = {
    "paraphrase": """
reword | Convert 5 miles to kilometers | How many kilometers are in 5 miles?
reword | What is 15% of 80? | Calculate fifteen percent of 80
reword | What's the square root of 144? | sqrt(144) = ?
typo | how many ounces in a poud | How many ounces are in a pound?
formality | whats 12 times 17 | Could you please compute 12 multiplied by 17?
length | Derivative of x^2 | What is the derivative of x squared with respect to x?
reword | Convert 100 Fahrenheit to Celsius | What is 100 °F in Celsius?
reword | How many seconds are in a day? | What's the number of seconds in one day?
reword | Solve 2x + 6 = 14 | Find x if 2x + 6 = 14
reword | What is the area of a circle with radius 3? | Compute the area of a circle whose radius is 3
reorder | If I invest $1,000 at 5% compounded annually, how much will I have after 10 years? | How much will I have after 10 years if I invest $1,000 at 5% compounded annually?
reword | Is 97 a prime number? | Is 97 prime?
typo | convert 3 cups to milileters | Convert 3 cups to milliliters
formality | how much is 2 liters in US gallons | Could you convert 2 liters into US gallons, please?
reword | What is the probability of rolling a 6 twice with a fair die? | If I roll a fair die two times, what's the chance both are sixes?
reword | How many feet are in a mile? | A mile is how many feet?
reword | What's the integral of 1/x? | Integrate 1/x
length | LCM of 4 and 6 | What is the least common multiple of the numbers 4 and 6?
reword | What is 2 to the power of 10? | Calculate 2^10
reword | Convert 0.75 to a fraction | Write 0.75 as a fraction
reword | How do I calculate the average of 3, 7 and 11? | What is the mean of 3, 7 and 11?
reword | What's 7/8 as a percentage? | Express seven eighths as a percent
typo | whats the pythagorean theorm | What's the Pythagorean theorem?
formality | explain standard deviation pls | Would you kindly explain what standard deviation is?
reword | What's 3 hours and 45 minutes in minutes? | How many minutes is 3 h 45 min?
reword | Convert 250 grams of flour to cups | How many cups is 250 g of flour?
reword | What is the sum of the angles in a triangle? | The angles of a triangle add up to what?
reorder | To get the volume of a cylinder, which formula do I use? | Which formula do I use to get the volume of a cylinder?
reword | What's the slope of the line through (1,2) and (3,8)? | Find the gradient of the line passing through the points (1, 2) and (3, 8)
reword | Simplify (x^2 - 9)/(x - 3) | What does (x² − 9)/(x − 3) simplify to?
length | km/h to m/s | How do I convert a speed given in kilometers per hour into meters per second?
reword | What is 1 megabyte in kilobytes? | How many kilobytes make up one megabyte?
reword | How many days are there between March 1 and April 15? | Count the days from March 1st to April 15th
reword | What's the factorial of 6? | Compute 6!
reword | What is 45 degrees in radians? | Convert 45° to radians
formality | tip 18% on 64 dollars | Could you work out an 18% tip on a $64 bill?
""",
    "near_miss": """
direction | Convert 8 km to miles | Convert 8 miles to km
number | What is 35% of 260? | What is 35% of 620?
direction | Convert 30 Celsius to Fahrenheit | Convert 30 Fahrenheit to Celsius
entity | What's the cube root of 27? | What's the square root of 27?
number | Solve 3x - 4 = 11 | Solve 3x + 4 = 11
unit | How many US fluid ounces are in a liter? | How many imperial fluid ounces are in a liter?
entity | What is the area of a square with side 7? | What is the perimeter of a square with side 7?
number | Is 91 a prime number? | Is 89 a prime number?
direction | What's 2^5? | What's 5^2?
time | How many days until Christmas from December 1? | How many days until Christmas from November 1?
unit | How many meters are in 3 yards? | How many meters are in 3 feet?
scope | Probability of getting exactly 2 heads in 3 coin flips | Probability of getting at least 2 heads in 3 coin flips
negation | What's the probability of drawing a heart from a standard deck? | What's the probability of not drawing a heart from a standard deck?
entity | Derivative of sin(x) | Derivative of cos(x)
number | Integral of e^x | Integral of e^(2x)
number | Compound interest on $5,000 at 4% for 3 years | Compound interest on $5,000 at 4% for 30 years
entity | Simple interest on $2,000 at 6% for 2 years | Compound interest on $2,000 at 6% for 2 years
unit | What's 60 mph in km/h? | What's 60 knots in km/h?
unit | How many MB are in a GB? | How many MiB are in a GiB?
format | Write 0.125 as a fraction | Write 0.125 as a percentage
format | Round 3.14159 to 2 decimal places | Round 3.14159 to 2 significant figures
entity | Mean of 4, 8, 15, 16, 23, 42 | Median of 4, 8, 15, 16, 23, 42
time | What day of the week was 1 January 2000? | What day of the week was 1 January 2001?
number | What's 123 + 456? | What's 123 - 456?
unit | Convert 5 kg to pounds | Convert 5 stone to pounds
entity | Volume of a sphere of radius 2 | Surface area of a sphere of radius 2
direction | How many hours is 150 minutes? | How many minutes is 150 hours?
number | Solve x^2 - 5x + 6 = 0 | Solve x^2 - 5x - 6 = 0
negation | Which numbers between 1 and 20 are divisible by 3? | Which numbers between 1 and 20 are not divisible by 3?
number | Find the hypotenuse of a right triangle with legs 3 and 4 | Find the hypotenuse of a right triangle with legs 5 and 12
unit | Convert 2 square miles to square kilometers | Convert 2 miles to kilometers
time | How many days are in February 2024? | How many days are in February 2023?
format | Write 1994 in Roman numerals | Write 1994 in binary
entity | Convert 50 USD to EUR | Convert 50 USD to GBP
number | Split a $240 bill among 4 people | Split a $240 bill among 6 people
scope | Sum of the first 100 natural numbers | Sum of the first 100 even numbers
""",
    "unrelated": """
topic | What is a logarithm? | How many liters are in a cubic meter?
topic | Explain Bayes' theorem | What's 17% of 350?
topic | What is the prime factorization of 84? | Convert 6 feet 2 inches to centimeters
topic | How do I calculate a weighted average? | What's the formula for the area of a trapezoid?
topic | What is a derivative, intuitively? | How many tablespoons are in a cup?
topic | What's the difference between permutations and combinations? | Convert 72 hours to days
topic | Is zero an even number? | How do I compute the determinant of a 3x3 matrix?
topic | What is the golden ratio? | How many centimeters are in an inch?
""",
}

WRITING = {
    "paraphrase": """
reword | Write a polite email asking my manager for a day off next Friday | Draft a courteous email to my boss requesting next Friday off
reword | Give me a catchy title for a blog post about remote work productivity | Suggest a catchy headline for a blog article on staying productive while working remotely
reword | Proofread this sentence: "Their going to the park tomorrow." | Check this sentence for mistakes: "Their going to the park tomorrow."
formality | write a birthday msg for my sister | Please compose a birthday message for my sister.
length | Cover letter for junior data analyst | I need a cover letter for my application to a junior data analyst job.
reword | Rewrite this paragraph to sound more professional: "We messed up the delivery and we're sorry." | Make this more professional: "We messed up the delivery and we're sorry."
reorder | Summarize this text in one sentence: "The meeting was moved to Thursday because the client is travelling." | In a single sentence, summarize: "The meeting was moved to Thursday because the client is travelling."
typo | writ a thank you note to my teacher | Write a thank-you note to my teacher
reword | Give me 5 ideas for a LinkedIn post about our product launch | Suggest five LinkedIn post ideas announcing our product launch
reword | Write a short poem about autumn leaves | Compose a brief poem about leaves falling in autumn
formality | make this shorter: "We are writing to inform you that your order has been shipped and will arrive soon." | Could you shorten the following: "We are writing to inform you that your order has been shipped and will arrive soon."
reword | What's a good opening line for a wedding toast? | How should I start a wedding toast?
reword | Write a product description for a stainless steel water bottle | Draft product copy for a stainless-steel water bottle
reword | Translate "Where is the train station?" into Spanish | How do you say "Where is the train station?" in Spanish?
reword | Give me a synonym for "important" | What's another word for "important"?
length | Apology email late shipment | Write an email apologizing to a customer because their shipment is late.
reorder | For my resume, how should I describe my experience as a barista? | How should I describe my barista experience on my resume?
reword | Write a tweet announcing our new office in Austin | Draft a post for Twitter saying we opened a new office in Austin
typo | fix the grammer: "me and him goes to school" | Fix the grammar: "me and him goes to school"
formality | need a slogan for a bakery | Could you come up with a slogan for a bakery?
reword | Help me write a resignation letter | Draft a resignation letter for me
reword | Make this sentence more concise: "At this point in time we are unable to process your request." | Shorten this sentence: "At this point in time we are unable to process your request."
reword | Write an out-of-office reply for my vacation until August 20 | Draft an autoreply saying I'm on holiday until August 20
reword | What's the difference between "affect" and "effect"? | When do I use "affect" versus "effect"?
length | Bio for conference speaker page | Write a short third-person bio I can use on a conference's speaker page.
reword | Write a limerick about a cat who loves coffee | Compose a limerick about a coffee-loving cat
reword | Give me an outline for an essay on climate change and agriculture | Outline an essay about how climate change affects agriculture
formality | pls reword: "the system is down, we are fixing it" | Kindly rephrase: "the system is down, we are fixing it"
reword | Write a follow-up email after a job interview | Draft a thank-you follow-up email to send after an interview
reword | Suggest names for a hiking club | Give me name ideas for a hiking club
reword | Is it "who" or "whom" in "To ___ it may concern"? | Which is correct: "To who it may concern" or "To whom it may concern"?
reword | Write a meeting invite for the Q3 planning session | Draft a calendar invitation for the Q3 planning meeting
reorder | In a formal letter, how do I sign off? | How do I sign off a formal letter?
reword | Write a short story opening set on a space station | Give me the first paragraph of a story that takes place on a space station
typo | whats the plural of cactus | What's the plural of "cactus"?
reword | Turn these notes into a paragraph: "launch delayed, supplier issue, new date May 3" | Write a paragraph from these notes: "launch delayed, supplier issue, new date May 3"
""",
    "near_miss": """
language | Translate "Good morning, how are you?" into French | Translate "Good morning, how are you?" into Italian
entity | Write a retirement message for a colleague | Write a retirement message for my boss
format | Write a haiku about the ocean | Write a sonnet about the ocean
number | Give me 3 taglines for a coffee shop | Give me 10 taglines for a coffee shop
number | Write a 50-word summary of Romeo and Juliet | Write a 500-word summary of Romeo and Juliet
tone | Make this more formal: "can't make it tonight, sorry" | Make this more casual: "can't make it tonight, sorry"
negation | Write a review praising the hotel's breakfast | Write a review criticizing the hotel's breakfast
entity | Write a cover letter for a nursing position | Write a cover letter for a teaching position
time | Draft an invitation to our holiday party on December 15 | Draft an invitation to our holiday party on December 22
entity | Write a product description for wireless earbuds | Write a product description for a wireless speaker
language | What's the past tense of "swim"? | What's the past participle of "swim"?
format | Format my references in APA style | Format my references in MLA style
scope | Check only the spelling in this paragraph: "I recieve alot of emails." | Check the grammar and style in this paragraph: "I recieve alot of emails."
negation | Give me a synonym for "happy" | Give me an antonym for "happy"
negation | Write an email accepting the job offer | Write an email declining the job offer
direction | Write a letter from a tenant to a landlord about a broken heater | Write a letter from a landlord to a tenant about a broken heater
number | Write a LinkedIn post celebrating 5 years at the company | Write a LinkedIn post celebrating 10 years at the company
format | Turn this into bullet points: "We met the client, agreed on price, and set a deadline." | Turn this into a table: "We met the client, agreed on price, and set a deadline."
tone | Write a funny toast for my brother's wedding | Write a heartfelt toast for my brother's wedding
language | Translate "I'd like a coffee, please" into German | Translate "I'd like a coffee, please" into Dutch
entity | Write a thank-you email to a client after a meeting | Write a thank-you email to a supplier after a meeting
scope | Write the introduction of my thesis on urban heat islands | Write the conclusion of my thesis on urban heat islands
number | Shorten to under 100 characters: "Our spring sale starts Monday with discounts on every jacket, boot and backpack in the store." | Shorten to under 280 characters: "Our spring sale starts Monday with discounts on every jacket, boot and backpack in the store."
negation | Write a message telling the team the release is on schedule | Write a message telling the team the release is delayed
entity | Explain the difference between "its" and "it's" | Explain the difference between "your" and "you're"
number | Write a toast for a 1st wedding anniversary | Write a toast for a 25th wedding anniversary
tone | Write a complaint letter to the airline about lost luggage, firm but polite | Write a complaint letter to the airline about lost luggage, angry and sarcastic
entity | Suggest a name for a golden retriever puppy | Suggest a name for a black kitten
direction | Rewrite in the passive voice: "The committee approved the budget." | Rewrite in the active voice: "The budget was approved by the committee."
language | Write a haiku in Japanese about cherry blossoms | Write a haiku in English about cherry blossoms
format | Write a recipe for pancakes as a numbered list | Write a recipe for pancakes as a short paragraph
entity | Give me 5 interview questions for a product manager | Give me 5 interview questions for a software engineer
scope | Proofread the first paragraph of my essay | Proofread my whole essay
entity | Write a wedding speech as the best man | Write a wedding speech as the father of the bride
time | Write a New Year's greeting for our customers | Write an Easter greeting for our customers
number | Write a two-sentence horror story | Write a two-page horror story
""",
    "unrelated": """
topic | Write a eulogy for my grandfather | Give me a pun about cheese
topic | Suggest a title for my fantasy novel | How do I write a strong thesis statement?
topic | Write a cold email to a potential investor | What rhymes with "orange"?
topic | Make this sound friendlier: "Your request is denied." | Write a song chorus about summer road trips
topic | Draft a press release for our Series A | What is a dangling modifier?
topic | Write alt text for a photo of a sunset over the sea | Write a two-line riddle about time
topic | Give me a motivational quote for Monday | Write a job ad for a part-time cashier
topic | Write a dialogue between a detective and a suspect | How many words is a typical op-ed?
topic | Write a LinkedIn summary for a UX designer | Suggest a theme for a company newsletter
topic | Write a condolence card message | Write rules for an office bake-off contest
""",
}

TRAVEL = {
    "paraphrase": """
reword | How much checked baggage is included in an economy ticket? | What's the checked luggage allowance for economy class?
reword | Do I need a visa to visit Japan as a US citizen? | As an American, is a visa required for a trip to Japan?
typo | can i chnage the name on my flight ticket | Can I change the name on my flight ticket?
formality | cancel my hotel booking | I would like to cancel my hotel reservation, please.
length | Best time to visit Iceland | When is the best time of year to visit Iceland?
reword | What's the cheapest way to get from the airport to the city center in Lisbon? | In Lisbon, how do I get from the airport to downtown cheaply?
reword | Can I bring a power bank in my carry-on? | Are power banks allowed in hand luggage?
reword | What time is check-in at the hotel? | When can I check in to the hotel?
reword | Is breakfast included in my booking? | Does my reservation come with breakfast?
reorder | For an international flight, how early should I arrive at the airport? | How early should I arrive at the airport for an international flight?
reword | How do I get a refund for a cancelled train? | My train was cancelled, how do I get my money back?
typo | recomend things to do in barcelona for 2 days | Recommend things to do in Barcelona for 2 days
formality | free parking at hotel? | Does the hotel offer free parking?
reword | Can I bring my dog on the train? | Are dogs allowed on trains?
reword | How do I add a checked bag to my existing booking? | I already booked; how can I add a suitcase to my reservation?
length | Upgrade my seat to business class | How can I upgrade my seat to business class on a flight I have already booked?
reword | What's the tipping custom in Japan? | Do people tip in Japan?
reword | Do I need travel insurance for a Schengen visa? | Is travel insurance required to apply for a Schengen visa?
reword | What's the late checkout fee? | How much do you charge for checking out late?
reorder | With a Eurail pass, can I take high-speed trains? | Can I take high-speed trains with a Eurail pass?
reword | My flight was delayed by 4 hours, am I entitled to compensation? | Can I claim compensation for a four-hour flight delay?
typo | is the museum open on mondays | Is the museum open on Mondays?
reword | What documents do I need to rent a car in Italy? | Which papers are required to hire a car in Italy?
reword | Can I change my flight date without a fee? | Is it possible to move my flight to another day for free?
formality | airport lounge access how | Could you explain how I can get access to the airport lounge?
reword | How do I get from Rome to Florence by train? | What's the train route from Rome to Florence?
reword | Is tap water safe to drink in Mexico City? | Can I drink the tap water in Mexico City?
reword | What's included in the all-inclusive package? | What does the all-inclusive package cover?
length | Passport validity for Thailand | How many months of validity does my passport need to have when I enter Thailand?
reword | How do I find my booking reference? | Where can I see my reservation code?
reword | Are there any direct flights from Toronto to Tokyo? | Can I fly nonstop from Toronto to Tokyo?
reword | Recommend a family-friendly hotel in Orlando | Suggest a hotel in Orlando that's good for kids
reword | How far is the hotel from the beach? | What's the distance between the hotel and the beach?
typo | what is the baggage weigth limit for ryanair | What is the baggage weight limit for Ryanair?
reword | Can I pay for my booking in installments? | Is there an option to pay for the trip in several instalments?
reword | Is there a shuttle from the hotel to the airport? | Does the hotel run an airport shuttle?
""",
    "near_miss": """
entity | Do I need a visa to visit Brazil as a UK citizen? | Do I need a visa to visit Brazil as an Indian citizen?
direction | Next train from Madrid to Barcelona | Next train from Barcelona to Madrid
time | Flights from London to New York on May 3 | Flights from London to New York on May 13
number | Book a table for 2 at 8 pm | Book a table for 6 at 8 pm
negation | Which countries in Europe require a visa for Americans? | Which countries in Europe don't require a visa for Americans?
entity | What's the baggage allowance on Lufthansa? | What's the baggage allowance on KLM?
time | Things to do in Paris in one day | Things to do in Paris in one week
unit | Is a 23 kg suitcase overweight on a domestic flight? | Is a 23 lb suitcase overweight on a domestic flight?
time | Is the Louvre open on Tuesdays? | Is the Louvre open on Wednesdays?
entity | Best beaches in Crete | Best beaches in Corfu
scope | Hotel room for 3 adults | Hotel room for 3 adults and 2 children
number | Can I bring liquids over 100 ml in hand luggage? | Can I bring liquids under 100 ml in hand luggage?
time | What's the weather in Rome in April? | What's the weather in Rome in August?
entity | How do I get from Heathrow to central London? | How do I get from Gatwick to central London?
direction | Change my flight from economy to business | Change my flight from business to economy
entity | Vaccines required for travel to Kenya | Vaccines required for travel to Peru
scope | Cancel my return flight only | Cancel my whole round trip
number | Car rental for drivers under 25 | Car rental for drivers over 70
time | Late check-in after midnight | Early check-in before 8 am
entity | Is Uber available in Dubai? | Is Uber available in Doha?
format | Send me my boarding pass by email | Send me my boarding pass by SMS
entity | Do I pay a tourist tax in Amsterdam? | Do I pay a tourist tax in Venice?
number | Ski pass prices for 3 days in Zermatt | Ski pass prices for 6 days in Zermatt
language | Find me a guided tour of the Vatican in English | Find me a guided tour of the Vatican in Spanish
time | Trains from Munich to Vienna this morning | Trains from Munich to Vienna tonight
number | Reserve a window seat on flight LH 402 | Reserve a window seat on flight LH 420
unit | How hot is Dubai in July in Fahrenheit? | How hot is Dubai in July in Celsius?
scope | Travel insurance for a single trip | Travel insurance for a whole year of trips
entity | Hostels in Copenhagen under 40 euros | Hostels in Berlin under 40 euros
negation | Flights from Chicago to Denver with a layover | Flights from Chicago to Denver without a layover
number | Is a 5-hour layover in Istanbul enough to visit the city? | Is a 2-hour layover in Istanbul enough to visit the city?
time | Is it rainy in Bali in January? | Is it rainy in Bali in July?
entity | Can I use my EU driving licence in the US? | Can I use my EU driving licence in Australia?
direction | Exchange euros to yen at the airport | Exchange yen to euros at the airport
entity | Book a single room for Friday night | Book a double room for Friday night
negation | Which hotels in Vienna allow pets? | Which hotels in Vienna don't allow pets?
""",
    "unrelated": """
topic | How do I get a refund for an unused ski lesson? | What's the best neighbourhood to stay in Tokyo?
topic | Are e-scooters allowed in Madrid? | What should I pack for a safari?
topic | How do I report a lost passport abroad? | Recommend a vegetarian restaurant in Lyon
topic | Can I bring my bike on the ferry? | What are the customs limits for alcohol entering Canada?
topic | Is there a dress code at the casino in Monaco? | How do I rent a camper van in New Zealand?
topic | Can I get a SIM card at Bangkok airport? | Are there night buses in Lisbon?
topic | Do cruise ships have doctors on board? | How long is the hike to Trolltunga?
topic | What's the etiquette in Japanese onsens? | Can I check in online for my bus?
topic | Where can I store luggage in Venice? | Do I need an international driving permit for Japan?
topic | Are the Northern Lights visible in Scotland? | How do I claim VAT back at the airport?
""",
}

DOMAINS = {"general": GENERAL, "math": MATH, "writing": WRITING, "travel": TRAVEL}
