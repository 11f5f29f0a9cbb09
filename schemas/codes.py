"""Published stop-and-search code lists (data.police.uk national format, see ../shared/domain.md).

Forces export their stop records in this form, so the records system holds the same categories.
A blank is data, never a reason to crash: which columns may be blank is decided in the schema.
"""
SEARCH_TYPES = ("Person search", "Person and Vehicle search", "Vehicle search")
GENDERS = ("Male", "Female", "Other")
AGE_RANGES = ("under 10", "10-17", "18-24", "25-34", "over 34")
LEGISLATION = (
    "Misuse of Drugs Act 1971 (section 23)",
    "Police and Criminal Evidence Act 1984 (section 1)",
    "Criminal Justice and Public Order Act 1994 (section 60)",
    "Psychoactive Substances Act 2016 (s36(2))",
    "Psychoactive Substances Act 2016 (s37(2))",
    "Firearms Act 1968 (section 47)",
    "Poaching Prevention Act 1862 (section 2)",
    "Police and Criminal Evidence Act 1984 (section 6)",
    "Wildlife and Countryside Act 1981 (section 19)",
    "Aviation Security Act 1982 (section 27(1))",
    "Crossbows Act 1987 (section 4)",
    "Terrorism Act 2000 (section 43)",
    "Terrorism Act 2000 (section 44)",
    "Terrorism Act 2000 (section 47A)",
    "Customs and Excise Management Act 1979 (section 163)",
    "Public Stores Act 1875 (section 6)",
    "Protection of Badgers Act 1992 (section 11)",
    "Deer Act 1991 (section 12)",
    "Conservation of Seals Act 1970 (section 4)",
    "Environmental Protection Act 1990 (section 34B )",
    "Hunting Act 2004 (section 8)",
    "Sporting Events (Control of Alcohol etc.) Act 1985 (section 7)",
)
OBJECTS_OF_SEARCH = (
    "Controlled drugs",
    "Offensive weapons",
    "Stolen goods",
    "Psychoactive substances",
    "Article for use in theft",
    "Articles for use in criminal damage",
    "Firearms",
    "Anything to threaten or harm anyone",
    "Fireworks",
    "Evidence of offences under the Act",
    "Detailed object of search unavailable",
    "Crossbows",
    "Evidence of wildlife offences",
    "Goods on which duty has not been paid etc.",
    "Game or poaching equipment",
    "Seals or hunting equipment",
    "Evidence of hunting any wild mammal with a dog",
)
OUTCOMES = (
    "A no further action disposal",
    "Arrest",
    "Community resolution",
    "Khat or Cannabis warning",
    "Summons / charged by post",
    "Caution (simple or conditional)",
    "Penalty Notice for Disorder",
)
OFFICER_DEFINED_ETHNICITIES = ("White", "Black", "Asian", "Other", "Mixed")
#: Self-defined ethnicity: the 2011 census 18 categories plus "Not stated", as written in the
#: published files. Ethnicity is sensitive processing (DPA 2018 s.35(8)): the pipeline reads it
#: only when a force maps it (records_system.columns), and never logs it.
SELF_DEFINED_ETHNICITIES = (
    "White - English/Welsh/Scottish/Northern Irish/British",
    "White - Irish",
    "White - Gypsy or Irish Traveller",
    "White - Any other White background",
    "Mixed/Multiple ethnic groups - White and Black Caribbean",
    "Mixed/Multiple ethnic groups - White and Black African",
    "Mixed/Multiple ethnic groups - White and Asian",
    "Mixed/Multiple ethnic groups - Any other Mixed/Multiple ethnic background",
    "Asian/Asian British - Indian",
    "Asian/Asian British - Pakistani",
    "Asian/Asian British - Bangladeshi",
    "Asian/Asian British - Chinese",
    "Asian/Asian British - Any other Asian background",
    "Black/African/Caribbean/Black British - African",
    "Black/African/Caribbean/Black British - Caribbean",
    "Black/African/Caribbean/Black British - Any other Black/African/Caribbean background",
    "Other ethnic group - Arab",
    "Other ethnic group - Any other ethnic group",
    "Other ethnic group - Not stated",
)
CONTROLLED_DRUGS = "Controlled drugs"

#: Home Office crime outcome recorded when a diversion is completed.
OUTCOME_DIVERSION_COMPLETED = 22
