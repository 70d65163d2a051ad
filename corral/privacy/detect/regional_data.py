"""Word lists for the European address and name rules of `regional.py` (data only).

Keys are ISO 639-1 language codes. Entries are written as they appear in text; `regional.py`
adds the capitalised form of lower-case entries (sentence starts) and the typographic
apostrophe of entries with "'". Given names are common ones from each country's registers,
written from general knowledge; names that are also frequent common words, places or brands
("Mark", "Pierre", "Mercedes", "Marina", "Domenica", "Roos", "Floor") are left out, because a
gazetteer name followed by a capitalised word is the whole of that rule's evidence.
"""

from __future__ import annotations

LANGUAGES = ("de", "fr", "es", "it", "nl", "pl")

# --- names --------------------------------------------------------------------------------------

# Honorifics and academic titles: the capitalised words after them are a name (titles excluded).
TITLES: dict[str, tuple[str, ...]] = {
    "de": ("Herr", "Herrn", "Frau", "Hr.", "Fr.", "Dr.", "Prof.", "Dipl.-Ing.", "Dipl.-Kfm.", "Ing."),
    "fr": ("M.", "MM.", "Mme", "Mme.", "Mmes", "Mlle", "Mlle.", "Monsieur", "Madame", "Mademoiselle",
           "Maître", "Me", "Dr", "Dr.", "Pr", "Pr."),
    "es": ("Sr.", "Sra.", "Srta.", "Señor", "Señora", "Señorita", "D.", "Dña.", "Dª", "Don", "Doña",
           "Dr.", "Dra.", "Lic.", "Ldo.", "Lda."),
    "it": ("Sig.", "Sig.ra", "Sig.na", "Sigg.", "Signor", "Signora", "Signorina", "Dott.", "Dott.ssa",
           "Avv.", "Ing.", "Prof.", "Prof.ssa", "Geom.", "Rag.", "Dr."),
    "nl": ("Dhr.", "Dhr", "Mevr.", "Mevr", "Mw.", "meneer", "mevrouw", "de heer", "Drs.", "Dr.", "Ir.",
           "Ing.", "Mr.", "Prof."),
    "pl": ("Pan", "Pani", "Panu", "Panią", "Pana", "Panem", "Panie", "Państwo", "Państwa", "dr", "dr.",
           "Dr", "Dr.", "mgr", "Mgr", "inż.", "hab.", "prof.", "Prof.", "mec.", "Dyrektor", "Prezes",
           "Mecenas"),
}  # fmt: skip

# Self-introductions followed by a name of one to three words ...
INTROS: dict[str, tuple[str, ...]] = {
    "de": ("ich heiße", "ich heisse", "mein Name ist", "mein Name lautet"),
    "fr": ("je m'appelle", "mon nom est", "mon nom c'est"),
    "es": ("me llamo", "mi nombre es"),
    "it": ("mi chiamo", "il mio nome è", "il mio nome e'"),
    "nl": ("ik heet", "mijn naam is"),
    "pl": ("nazywam się", "mam na imię", "moje imię to", "moje nazwisko to"),
}
# ... and ones that also say "I am a ..." ("je suis médecin"): exactly two capitalised words.
INTROS_TWO: dict[str, tuple[str, ...]] = {
    "de": (),
    "fr": ("je suis", "moi c'est"),
    "es": ("soy",),
    "it": ("sono", "io sono"),
    "nl": ("ik ben",),
    "pl": ("jestem",),
}

# Job roles common in business text, followed by a two-word name.
ROLES: dict[str, tuple[str, ...]] = {
    "de": ("Kundenberater", "Kundenberaterin", "Sachbearbeiter", "Sachbearbeiterin", "Ansprechpartner",
           "Ansprechpartnerin", "Geschäftsführer", "Geschäftsführerin", "Patient", "Patientin",
           "Berater", "Beraterin", "Mitarbeiter", "Mitarbeiterin", "Kollege", "Kollegin"),
    "fr": ("conseiller", "conseillère", "responsable", "directeur", "directrice", "patient", "patiente",
           "gérant", "gérante", "collègue"),
    "es": ("asesor", "asesora", "gerente", "director", "directora", "paciente", "responsable",
           "compañero", "compañera"),
    "it": ("consulente", "responsabile", "direttore", "direttrice", "paziente", "collega", "referente"),
    "nl": ("klantadviseur", "medewerker", "medewerkster", "directeur", "patiënt", "patiente", "collega",
           "contactpersoon"),
    "pl": ("konsultant", "konsultantka", "kierownik", "kierowniczka", "dyrektor", "dyrektorka", "pacjent",
           "pacjentka", "pacjenta", "pacjentki", "doradca", "doradczyni"),
}  # fmt: skip

# Closing formulas: a line holding only a two- or three-word name after one is a signature.
CLOSINGS: dict[str, tuple[str, ...]] = {
    "de": ("Mit freundlichen Grüßen", "Mit freundlichen Grüssen", "Freundliche Grüße", "Viele Grüße",
           "Beste Grüße", "Herzliche Grüße", "Liebe Grüße", "Mit besten Grüßen", "Hochachtungsvoll", "MfG"),
    "fr": ("Cordialement", "Bien cordialement", "Bien à vous", "Salutations distinguées",
           "Sincères salutations", "Meilleures salutations", "Amicalement", "Bien amicalement"),
    "es": ("Atentamente", "Saludos", "Saludos cordiales", "Un saludo", "Un cordial saludo",
           "Reciba un cordial saludo", "Cordialmente", "Un abrazo"),
    "it": ("Cordiali saluti", "Distinti saluti", "Saluti", "Un saluto", "Cordialmente", "Buona giornata",
           "Un caro saluto", "Saluti cordiali"),
    "nl": ("Met vriendelijke groet", "Met vriendelijke groeten", "Vriendelijke groet", "Vriendelijke groeten",
           "Hartelijke groet", "Hartelijke groeten", "Met hartelijke groet", "Groeten", "Groetjes", "Mvg"),
    "pl": ("Z poważaniem", "Pozdrawiam", "Pozdrawiam serdecznie", "Serdecznie pozdrawiam",
           "Z wyrazami szacunku", "Łączę pozdrowienia", "Serdeczne pozdrowienia"),
}  # fmt: skip

# Lower-case words inside a name ("Ursula von der Leyen", "Jeanne d'Arc", "García y López").
PARTICLES: dict[str, tuple[str, ...]] = {
    "de": ("von", "vom", "zu", "zum", "der", "den"),
    "fr": ("de", "du", "des", "la", "le", "d'"),
    "es": ("de", "del", "la", "las", "los", "y"),
    "it": ("di", "de", "del", "della", "da", "d'"),
    "nl": ("van", "de", "der", "den", "ter", "ten", "het", "'t"),
    "pl": (),
}

GIVEN_NAMES: dict[str, tuple[str, ...]] = {
    "de": tuple(
        """
        Peter Michael Thomas Andreas Wolfgang Klaus Jürgen Günter Günther Stefan Christian Uwe Werner
        Horst Frank Dieter Manfred Gerhard Hans Bernd Torsten Matthias Helmut Martin Ralf Markus Sven
        Jörg Rainer Dirk Alexander Karl Heinz Jan Tobias Sebastian Florian Daniel Lukas Jonas Leon
        Felix Paul Maximilian Moritz Niklas Julian Philipp Fabian Benjamin Simon David Johannes
        Lars Oliver Patrick Dennis Marcel Björn Holger Volker Jens Heiko Kurt Walter Fritz Friedrich
        Hermann Wilhelm Joachim Detlef Lothar Siegfried Rüdiger Hartmut Reinhard Ulrich Norbert Gerd
        Ursula Monika Petra Sabine Renate Helga Karin Brigitte Ingrid Erika Andrea Gabriele Elke
        Claudia Susanne Birgit Christine Heike Nicole Anja Katrin Stefanie Julia Anna Lena Laura Lea
        Sarah Hannah Emma Mia Sophie Marie Lisa Katharina Jana Johanna Charlotte Clara Greta Frieda
        Ida Maria Elisabeth Gisela Hildegard Gertrud Inge Ute Silke Anke Tanja Sandra Melanie
        Jessica Christina Franziska Doris Bärbel Marianne Angelika Barbara Martina Daniela Kerstin
        Simone Nadine Vanessa Jennifer Annette Dagmar Jutta Waltraud Irmgard Sigrid
    """.split()
    ),
    "fr": tuple(
        """
        Jean Michel Philippe Alain Patrick Nicolas Christophe Pierre-Yves Jean-Pierre Jean-Luc
        Jean-Marc Jean-Claude Daniel Bernard Éric Eric Frédéric Laurent Stéphane David Olivier
        Sébastien Thierry Julien Pascal Vincent François Jacques Dominique Thomas Alexandre Antoine
        Guillaume Mathieu Matthieu Maxime Romain Nicolas Benoît Yves Gérard Didier Bruno Serge Marc
        Hugo Lucas Louis Gabriel Arthur Raphaël Jules Adam Paul Léo Nathan Théo Baptiste Clément
        Quentin Florian Jérôme Cédric Fabrice Franck Arnaud Rémi Hervé Gilles Lionel Emmanuel
        Marie Nathalie Isabelle Sylvie Catherine Françoise Christine Valérie Sandrine Stéphanie
        Véronique Sophie Céline Chantal Nicole Martine Anne Monique Brigitte Julie Aurélie Caroline
        Émilie Emilie Camille Léa Manon Chloé Emma Louise Inès Sarah Jade Lucie Juliette Pauline
        Élodie Elodie Mélanie Laure Claire Hélène Agnès Corinne Patricia Virginie Audrey Delphine
        Florence Mathilde Margaux Clémence Charlotte Océane Anaïs Marion Justine Amélie Marie-Claire
        Anne-Marie Marie-France Jeanne Geneviève Danielle Josiane Ginette Odile
    """.split()
    ),
    "es": tuple(
        """
        José Antonio Manuel Francisco Juan David Javier Daniel Carlos Jesús Alejandro Miguel Rafael
        Pedro Pablo Ángel Sergio Fernando Jorge Luis Alberto Álvaro Diego Adrián Raúl Enrique Ramón
        Vicente Andrés Joaquín Santiago Eduardo Víctor Roberto Jaime Ignacio Alfonso Rubén Óscar
        Gonzalo Marcos Hugo Mario Iván Emilio Julián Tomás Agustín Salvador Guillermo Gabriel
        Francisco Javier Nicolás Mateo Martín Lucas Leo Hernán Rodrigo Esteban Felipe Gustavo
        Lucía María Carmen Ana Isabel Laura Cristina Marta Elena Sara Paula Raquel Beatriz Patricia
        Rocío Andrea Silvia Julia Irene Alba Nuria Sonia Teresa Eva Natalia Claudia Carla Lorena
        Inés Montserrat Alicia Rosa Susana Yolanda Esther Verónica Noelia Josefa Francisca Dolores
        Antonia Pilar Concepción Manuela Mercè Núria Jordi Josep Xavier Joan Ainhoa Aitana Daniela
        Valeria Jimena Ximena Martina Lola Alejandra Adriana Gabriela Mónica Miriam Sofía Carolina
        Estefanía Begoña Amaia Iker Unai Aitor Gorka
    """.split()
    ),
    "it": tuple(
        """
        Giuseppe Giovanni Antonio Mario Luigi Francesco Angelo Vincenzo Pietro Salvatore Carlo Franco
        Domenico Bruno Paolo Michele Giorgio Aldo Sergio Luciano Marco Alessandro Andrea Matteo
        Lorenzo Luca Stefano Roberto Davide Simone Federico Riccardo Emanuele Giacomo Fabio Massimo
        Claudio Enrico Gianluca Tommaso Leonardo Edoardo Filippo Nicola Daniele Alberto Gianni
        Alessio Raffaele Gabriele Cristian Maurizio Fabrizio Giancarlo Gianfranco Ugo Renato Sandro
        Dario Mattia Gennaro Ciro Cesare Ettore Arturo Rocco Umberto Valerio Vittorio
        Maria Anna Giuseppina Rosa Giovanna Angela Teresa Lucia Carmela Caterina Francesca Chiara
        Sara Giulia Martina Valentina Alessandra Federica Elisa Silvia Laura Paola Elena Roberta
        Sofia Alice Ginevra Beatrice Emma Giorgia Greta Camilla Serena Simona Monica Cristina
        Barbara Daniela Patrizia Antonella Rita Manuela Raffaella Luisa Marta Irene Eleonora Noemi
        Benedetta Ilaria Veronica Arianna Debora Stefania Michela Donatella Ornella Gabriella Loredana
        Concetta Assunta Rosaria Filomena Annalisa Marisa Tiziana Nadia
    """.split()
    ),
    "nl": tuple(
        """
        Jan Johannes Pieter Piet Hendrik Cornelis Willem Gerrit Dirk Kees Klaas Henk Bert Wim Hans
        Peter Frank Erik Sander Thijs Ruud Ruben Daan Sem Lucas Levi Finn Milan Jesse Lars Bram Thomas
        Tim Joost Maarten Jeroen Martijn Stefan Arjen Niels Wouter Koen Michiel Rutger Jaap Joop Gijs
        Teun Stijn Tom Rik Rob Ronald Marco Dennis Vincent Jasper Jeroen Hugo Luuk Noah Sven Bart
        Ad Theo Gert Gerard Jacobus Adriaan Arie Evert Hidde Sjoerd Wessel
        Marieke Anna Maria Johanna Cornelia Elisabeth Wilhelmina Hendrika Geertje Anneke Ingrid Monique
        Sandra Linda Saskia Marloes Femke Sanne Lotte Fleur Emma Julia Sophie Tess Lisa Eva Anouk
        Iris Esther Manon Ilse Inge Petra Wendy Mirjam Ellen Karin Marjolein Annemarie Noor Lieke
        Mila Nina Zoë Evi Yara Jolien Janneke Maartje Willemijn Karlijn Renske Annelies Hanneke
        Ingeborg Truus Riet Joke Ria Els Gerda Hennie Nienke Margriet Wilma Tineke Astrid Bianca
    """.split()
    ),
    "pl": tuple(
        """
        Anna Maria Katarzyna Małgorzata Agnieszka Barbara Ewa Krystyna Elżbieta Magdalena Joanna Zofia
        Monika Aleksandra Natalia Teresa Danuta Jadwiga Beata Dorota Karolina Marta Julia Halina Irena
        Justyna Grażyna Paulina Renata Iwona Jolanta Urszula Zuzanna Wiktoria Alicja Weronika Oliwia
        Hanna Agata Sylwia Ewelina Kinga Izabela Emilia Dominika Patrycja Edyta Bożena Wanda
        Jan Andrzej Piotr Krzysztof Stanisław Tomasz Paweł Józef Marcin Marek Michał Grzegorz Jerzy
        Tadeusz Adam Łukasz Zbigniew Ryszard Dariusz Henryk Mariusz Kazimierz Wojciech Robert Mateusz
        Marian Rafał Jacek Janusz Mirosław Maciej Sławomir Jarosław Kamil Wiesław Władysław Jakub
        Artur Zdzisław Edward Mieczysław Damian Dawid Przemysław Sebastian Czesław Leszek Daniel
        Waldemar Szymon Filip Antoni Kacper Bartosz Wiktor Igor Hubert Bogdan Zygmunt Witold
        Bartłomiej Konrad Radosław Karol Aleksander Franciszek Ignacy Oskar Tymon
    """.split()
    ),
}

# Capitalised words that are never part of a person's name: pronouns and articles at a sentence
# start, forms of address, weekdays, months, department names, German nouns seen after titles.
STOPWORDS: dict[str, tuple[str, ...]] = {
    "de": tuple(
        """
        Ich Sie Ihr Ihre Ihren Ihrem Ihnen Du Dein Deine Er Es Wir Uns Euch Der Die Das Den Dem Des
        Ein Eine Einer Einen Und Oder Aber Mit Von Vom Zu Zum Zur Bei Für Auf Aus Im In Am An Ist
        Sind War Hat Haben Bitte Danke Hallo Guten Tag Morgen Abend Herr Herrn Herren Frau Frauen
        Damen Doktor Professor Kollege Kollegin Team Kundenservice Kundendienst Service Support
        Vertrieb Verkauf Einkauf Marketing Buchhaltung Personal Abteilung Geschäftsführung Leitung
        Technik Verwaltung Bescheid Programm Hase Nord Süd Ost West Montag Dienstag Mittwoch
        Donnerstag Freitag Samstag Sonnabend Sonntag Januar Februar März April Mai Juni Juli August
        September Oktober November Dezember Deutschland Österreich Schweiz Straße Strasse Platz Weg
        Nummer Adresse Telefon Ober Pfarrer Präsident Präsidentin Minister Ministerin Bürgermeister
        Bürgermeisterin Vorsitzender Vorsitzende Abgeordneter Abgeordnete Nachbar Nachbarin Lehrer
        Lehrerin Kunde Kundin
    """.split()
    ),
    "fr": tuple(
        """
        Je Tu Il Elle Nous Vous Ils Elles Le La Les Un Une Des Du De Et Ou Mais Pour Par Avec Sur
        Dans Bonjour Bonsoir Merci Cher Chère Madame Monsieur Mademoiselle Docteur Maître Service
        Client Clients Équipe Direction Commercial Commerciale Grands Comptes Lundi Mardi Mercredi
        Jeudi Vendredi Samedi Dimanche Janvier Février Mars Avril Mai Juin Juillet Août Septembre
        Octobre Novembre Décembre France Rue Avenue Boulevard
    """.split()
    ),
    "es": tuple(
        """
        Yo Tú Usted Él Ella Nosotros Vosotros Ellos Ellas El La Los Las Un Una De Del Y O Pero Para
        Por Con En Hola Buenos Buenas Gracias Estimado Estimada Señor Señora Don Doña Atención
        Cliente Clientes Servicio Equipo Departamento Ventas Comercial Dirección General Lunes Martes
        Miércoles Jueves Viernes Sábado Domingo Enero Febrero Marzo Abril Mayo Junio Julio Agosto
        Septiembre Setiembre Octubre Noviembre Diciembre España Calle Avenida Plaza
    """.split()
    ),
    "it": tuple(
        """
        Io Tu Lui Lei Noi Voi Loro Il Lo La Gli Le Un Una Uno Di Del Della E O Ma Per Con Su In Da
        Buongiorno Buonasera Ciao Grazie Gentile Egregio Caro Cara Signor Signora Dottor Dottore
        Dottoressa Avvocato Ingegnere Servizio Clienti Assistenza Ufficio Commerciale Direzione
        Generale Vendite Lunedì Martedì Mercoledì Giovedì Venerdì Sabato Domenica Gennaio Febbraio
        Marzo Aprile Maggio Giugno Luglio Agosto Settembre Ottobre Novembre Dicembre Italia Via
        Piazza Corso
    """.split()
    ),
    "nl": tuple(
        """
        Ik Jij Je Hij Zij Ze Wij We Jullie U Uw De Het Een En Of Maar Voor Met Van Op In Aan Bij
        Hallo Goedemorgen Goedemiddag Dank Beste Geachte Meneer Mevrouw Heer Klantenservice Service
        Afdeling Team Verkoop Inkoop Directie Maandag Dinsdag Woensdag Donderdag Vrijdag Zaterdag
        Zondag Januari Februari Maart April Mei Juni Juli Augustus September Oktober November
        December Nederland Straat
    """.split()
    ),
    "pl": tuple(
        """
        Ja Ty On Ona Ono My Wy Oni One Pan Pani Panu Panią Pana Państwo Państwa Szanowny Szanowna
        Szanowni Dzień Dobry Dziękuję Witam Cześć Dyrektor Prezes Kierownik Profesor Doktor Mecenas
        Obsługa Klienta Dział Zespół Sprzedaży Sprzedaż Biuro Poniedziałek Wtorek Środa Czwartek
        Piątek Sobota Niedziela Stycznia Lutego Marca Kwietnia Maja Czerwca Lipca Sierpnia Września
        Października Listopada Grudnia Styczeń Luty Marzec Kwiecień Maj Czerwiec Lipiec Sierpień
        Wrzesień Październik Listopad Grudzień Polska Polski Ulica
    """.split()
    ),
}

# Legal forms: "Hans Müller GmbH", "Dupont SARL" are companies, not people.
LEGAL_FORMS = (
    "GmbH", "gGmbH", "AG", "KG", "OHG", "UG", "e.K.", "e.V.", "GbR", "mbH", "SARL", "SAS", "SASU", "SA",
    "S.A.", "S.A.S.", "EURL", "SNC", "SCI", "S.L.", "SL", "S.L.U.", "S.C.", "S.p.A.", "SpA", "S.r.l.",
    "Srl", "S.n.c.", "S.a.s.", "B.V.", "BV", "N.V.", "NV", "V.O.F.", "VOF", "sp. z o.o.", "Sp. z o.o.",
    "S.K.A.", "sp.j.", "sp.k.", "& Co.", "& Cie", "& Söhne", "& Zn.", "e Figli", "y Cía.",
)  # fmt: skip

# --- addresses ----------------------------------------------------------------------------------

# German and Dutch street names are compounds ending in these (compared in lower case).
STREET_SUFFIXES: dict[str, tuple[str, ...]] = {
    "de": ("straße", "strasse", "str.", "weg", "platz", "allee", "gasse", "ring", "damm", "ufer",
           "chaussee", "steig", "pfad", "markt", "graben", "wall", "stieg", "kamp"),
    "nl": ("straat", "laan", "weg", "plein", "gracht", "kade", "dijk", "singel", "hof", "pad", "steeg",
           "dreef", "markt", "wal"),
}  # fmt: skip
# Compounds with those endings that are not streets ("Parkplatz 5" is a parking space).
NOT_STREETS = frozenset(
    """
    arbeitsplatz parkplatz stellplatz sitzplatz spielplatz marktplatz rückweg ausweg umweg heimweg
    lösungsweg rechtsweg dienstweg postweg bildungsweg zugangsweg fluchtweg lieferweg zahlungsweg
    schriftweg staudamm bahnsteig ehering schlüsselring kreisverkehr binnenmarkt arbeitsmarkt
    aktienmarkt wochenmarkt supermarkt baumarkt weltmarkt inlandsmarkt stellplatz
    bestandspad zoekpad kerkhof hof pad weg markt
""".split()
)
# German street names written as separate words: "Berliner Straße 5", "Am Markt 3".
STREET_WORDS_DE = ("Straße", "Strasse", "Str.", "Weg", "Platz", "Allee", "Gasse", "Ring", "Damm", "Ufer",
                   "Chaussee", "Markt", "Tor", "Brücke", "Steig")  # fmt: skip
# Adjectives before a compound or a separate street word ("Alte Landstraße", "Neue Straße").
STREET_ADJECTIVES_DE = ("Alte", "Alter", "Neue", "Neuer", "Große", "Grosse", "Kleine", "Lange", "Hohe",
                        "Obere", "Untere", "Hintere", "Vordere", "Breite", "Krumme", "Kurze", "Sankt",
                        "St.", "Bad")  # fmt: skip
STREET_PREPOSITIONS_DE = ("Am", "An der", "An den", "An dem", "Auf der", "Auf dem", "Auf den", "Im",
                          "In der", "In den", "Unter den", "Unter der", "Zum", "Zur", "Hinter der",
                          "Hinter dem", "Vor dem", "Beim", "Bei der", "Über der", "Alt-")  # fmt: skip
# Street type words that come before the name: "rue de la Paix", "Calle Mayor", "ul. Długa".
STREET_WORDS: dict[str, tuple[str, ...]] = {
    "fr": ("rue", "avenue", "av.", "ave", "boulevard", "bd", "bd.", "blvd", "place", "pl.", "chemin",
           "ch.", "allée", "impasse", "imp.", "quai", "route", "rte", "rte.", "cours", "passage",
           "square", "voie", "sentier", "faubourg", "fg", "rond-point", "esplanade", "promenade",
           "lieu-dit", "hameau", "résidence", "parvis", "villa", "cité"),
    "es": ("calle", "C/", "c/", "avenida", "avda.", "avda", "av.", "plaza", "pza.", "pl.", "paseo", "pº",
           "ronda", "carretera", "ctra.", "camino", "travesía", "glorieta", "rambla", "callejón",
           "urbanización", "urb.", "carrer", "passeig", "plaça"),
    "it": ("via", "viale", "v.le", "piazza", "p.zza", "p.za", "piazzale", "p.le", "corso", "c.so",
           "largo", "vicolo", "strada", "lungomare", "lungotevere", "lungarno", "contrada", "c.da",
           "borgo", "salita", "vico", "traversa", "galleria", "località", "loc."),
    "pl": ("ul.", "ulica", "ulicy", "al.", "aleja", "alei", "aleje", "pl.", "plac", "placu", "os.",
           "osiedle", "osiedlu", "skwer", "rondo", "bulwar"),
}  # fmt: skip
# Lower-case street words that are also common words ("via email", "nel corso di", "el camino"):
# they need a preposition before them or a postcode after the number.
AMBIGUOUS_STREET_WORDS: dict[str, tuple[str, ...]] = {
    "es": ("camino", "paseo", "ronda", "carretera", "av."),
    "it": ("via", "corso", "largo", "strada", "borgo", "salita", "galleria", "traversa", "vico",
           "località", "contrada"),
    "pl": ("os.", "rondo", "skwer"),
}  # fmt: skip
# The words that put an ambiguous street word in an address ("abito in via Roma 10").
ADDRESS_PREPOSITIONS = frozenset(
    """
    in a da di su nella sulla alla della dalla presso abito vivo residente sede sito sita
    en la el del de al calle vivo domicilio dirección
    au à la le du de sur habite domicilié domiciliée adresse
    przy na w z
    c/o
""".split()
)
# Units after the house number, with a value: "Wohnung 3", "int. 7", "piso 2", "m. 5" ...
UNIT_WORDS: dict[str, tuple[str, ...]] = {
    "de": ("Wohnung", "Whg.", "App.", "Apt.", "Zimmer", "Zi.", "Haus", "Aufgang", "Postfach"),
    "fr": ("appartement", "appt", "appt.", "apt", "apt.", "bâtiment", "bât.", "bat.", "escalier", "esc.",
           "étage", "porte", "BP", "CS"),
    "es": ("piso", "planta", "puerta", "pta.", "escalera", "esc.", "portal", "bloque", "local"),
    "it": ("int.", "interno", "scala", "sc.", "piano", "pal.", "palazzina", "edificio", "lotto"),
    "nl": ("bus",),
    "pl": ("m.", "m", "lok.", "lokal", "mieszkanie", "kl.", "klatka"),
}  # fmt: skip
# ... and without one: "bajo", "izq.", "hs".
UNIT_MARKS: dict[str, tuple[str, ...]] = {
    "de": ("Hinterhaus", "Vorderhaus", "Seitenflügel", "links", "rechts"),
    "fr": ("bis", "ter"),
    "es": ("bajo", "ático", "entresuelo", "izq.", "izqda.", "izda.", "izquierda", "dcha.", "dcha", "dcho.",
           "derecha", "centro"),
    "it": ("bis", "ter"),
    "nl": ("hs", "huis", "boven", "bis", "zw"),
    "pl": (),
}  # fmt: skip
# Words after "Am", "Auf der", "Im" that make a phrase, not a street ("Auf der Seite 5", "Im Jahr 2020").
NOT_STREET_NAMES_DE = frozenset(
    """
    Ende Anfang Schluss Tag Jahr Woche Monat Abend Morgen Wochenende Stück Punkt Beispiel Seite Folie
    Kapitel Bild Abschnitt Position Stelle Schritt Zeile Tabelle Abbildung Anhang Rand Boden Tisch
    Spiel Laufband Wochenmarkt Schreibtisch Computer Telefon Handy Bildschirm Foto
    Rechnung Konto Ticket Level Stufe Runde Termin Datum Uhr Minute Stunde Sekunde Mal Ebene Gleis
""".split()
)
# Words before a Dutch street compound that belong to its name ("Van Baerlestraat", "Prins Hendrikkade").
STREET_PREFIXES_NL = ("Van", "De", "Den", "Het", "Sint", "St.", "Prins", "Prinses", "Koningin", "Koning",
                      "Burgemeester", "Burg.", "Graaf", "Dokter", "Dr.", "Pastoor", "Oude", "Nieuwe",
                      "Korte", "Lange", "Eerste", "Tweede", "Derde", "Hoge", "Lage", "Grote", "Kleine",
                      "Generaal", "President", "Admiraal", "Professor", "Prof.", "Jan", "Willem",
                      "Pieter")  # fmt: skip

# First words of multi-word city names ("Bad Homburg", "San Sebastián", "Den Haag") ...
CITY_PREFIXES = ("Bad", "Sankt", "St.", "Neu", "Alt", "Groß", "Klein", "Saint", "Sainte", "St-", "Le",
                 "La", "Les", "L'", "San", "Santa", "Santo", "Sant", "El", "Los", "Las", "Il", "Lo",
                 "Den", "De", "Het", "Nieuw", "Oud", "Nowy", "Nowa", "Nowe", "Stary", "Stara", "Zielona",
                 "Biała", "Bielsko", "Ruda", "Czerwionka")  # fmt: skip
# ... and the lower-case links inside them ("Frankfurt am Main", "Boulogne sur Mer").
CITY_LINKS = ("am", "an der", "im", "in", "ob der", "bei", "vor der", "sur", "sous", "en", "lès", "de",
              "del", "de la", "de los", "di", "aan", "aan de", "op", "nad", "pod")  # fmt: skip
