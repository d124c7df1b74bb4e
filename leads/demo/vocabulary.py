"""The words and weights demo data is made of. Small hard-coded lists: no Faker, no network.

Every email domain is under a reserved name (RFC 2606: `.example`, `example.com`), so nothing
seeded here can ever reach a real mailbox.
"""

from typing import NamedTuple

from campaigns.models import Channel
from leads import roles


class DemoUser(NamedTuple):
    username: str
    role: str
    first_name: str
    last_name: str
    is_superuser: bool = False


DEMO_USERS = (
    DemoUser("admin", roles.ADMIN, "Alex", "Kim", is_superuser=True),
    DemoUser("manager", roles.MANAGER, "Morgan", "Reyes"),
    DemoUser("marketer", roles.MARKETER, "Priya", "Natarajan"),
    DemoUser("rep1", roles.SALES_REP, "Sam", "Okafor"),
    DemoUser("rep2", roles.SALES_REP, "Lena", "Fischer"),
)

# Who owns leads, and how often.
OWNER_WEIGHTS = {"rep1": 45, "rep2": 45, "manager": 10}

# Share of new leads per channel: search carries the funnel, events are a trickle.
CHANNEL_WEIGHTS = {
    Channel.ORGANIC_SEARCH: 28,
    Channel.PAID_SEARCH: 20,
    Channel.DIRECT: 12,
    Channel.PAID_SOCIAL: 10,
    Channel.EMAIL: 9,
    Channel.REFERRAL: 8,
    Channel.ORGANIC_SOCIAL: 7,
    Channel.EVENTS: 3,
    Channel.OTHER: 3,
}
# How much likelier than average a channel's leads are to qualify (weighted mean is 1.0).
CHANNEL_QUALITY = {
    Channel.ORGANIC_SEARCH: 1.0,
    Channel.PAID_SEARCH: 0.9,
    Channel.DIRECT: 1.1,
    Channel.PAID_SOCIAL: 0.7,
    Channel.EMAIL: 1.1,
    Channel.REFERRAL: 1.5,
    Channel.ORGANIC_SOCIAL: 0.8,
    Channel.EVENTS: 1.3,
    Channel.OTHER: 0.8,
}
# Leads a rep qualifies on the spot (a booth conversation, a warm introduction): lead -> sql.
SKIP_TO_SQL = {Channel.EVENTS: 0.25, Channel.REFERRAL: 0.08, Channel.DIRECT: 0.03}
SKIP_TO_SQL_DEFAULT = 0.01
# Channels whose leads arrive through a web form; the others are typed in by a rep.
FORM_CHANNELS = (
    Channel.ORGANIC_SEARCH,
    Channel.PAID_SEARCH,
    Channel.PAID_SOCIAL,
    Channel.ORGANIC_SOCIAL,
    Channel.EMAIL,
    Channel.REFERRAL,
    Channel.DIRECT,
)

# (name, channel, utm_campaign)
CAMPAIGNS = (
    ("Search - Brand", Channel.PAID_SEARCH, "search-brand"),
    ("Search - CRM software", Channel.PAID_SEARCH, "search-crm-software"),
    ("Search - Competitor terms", Channel.PAID_SEARCH, "search-competitors"),
    ("LinkedIn - Lead gen forms", Channel.PAID_SOCIAL, "linkedin-leadgen"),
    ("LinkedIn - Retargeting", Channel.PAID_SOCIAL, "linkedin-retargeting"),
    ("Meta - Funnel metrics webinar", Channel.PAID_SOCIAL, "meta-webinar-funnel"),
    ("Monthly newsletter", Channel.EMAIL, "newsletter-monthly"),
    ("Nurture - Pricing guide", Channel.EMAIL, "nurture-pricing-guide"),
    ("B2B Growth Summit booth", Channel.EVENTS, "event-growth-summit"),
    ("Autumn customer roadshow", Channel.EVENTS, "event-autumn-roadshow"),
)

FIRST_NAMES = (
    "Emma", "Liam", "Olivia", "Noah", "Sophie", "Lucas", "Mia", "Elias", "Hannah", "Jonas",
    "Chloé", "Hugo", "Léa", "Louis", "Sara", "Mateo", "Lucía", "Pablo", "Giulia", "Marco",
    "Anna", "Jakub", "Zofia", "Oliver", "Amelia", "Jack", "Isla", "Harry", "Freja", "William",
    "Ingrid", "Lars", "Aoife", "Conor", "Priya", "Arjun", "Mei", "Daniel", "Grace", "Samuel",
    "Fatima", "Omar", "Nora", "Ethan", "Ava", "James", "Charlotte", "Henrik", "Julia", "David",
)
LAST_NAMES = (
    "Smith", "Johnson", "Williams", "Brown", "Taylor", "Müller", "Schmidt", "Schneider",
    "Fischer", "Weber", "Martin", "Bernard", "Dubois", "Moreau", "Laurent", "García", "Martínez",
    "López", "Rossi", "Russo", "Bianchi", "de Vries", "Jansen", "Bakker", "Nowak", "Kowalski",
    "Andersson", "Johansson", "Nielsen", "Hansen", "Murphy", "O'Brien", "Kelly", "Walsh",
    "Patel", "Sharma", "Chen", "Wang", "Kim", "Nguyen", "Cohen", "Silva", "Santos", "Novak",
    "Horvat", "Virtanen", "Korhonen", "Wilson", "Clarke", "Evans",
)
# (title, weight): practitioners outnumber the C-suite.
JOB_TITLES = (
    ("Marketing Manager", 9), ("Head of Marketing", 6), ("Demand Generation Manager", 5),
    ("Growth Marketing Lead", 4), ("Sales Manager", 8), ("Head of Sales", 5),
    ("VP of Sales", 3), ("Sales Operations Manager", 5), ("Revenue Operations Lead", 4),
    ("Account Executive", 6), ("Business Development Representative", 5), ("CEO", 3),
    ("Founder", 3), ("COO", 2), ("CMO", 2), ("CTO", 2), ("IT Manager", 3),
    ("Operations Manager", 4), ("Customer Success Manager", 4), ("Marketing Analyst", 4),
)

COMPANY_PREFIXES = (
    "Northwind", "Bluepeak", "Brightline", "Cobalt", "Corvid", "Driftwood", "Evergreen",
    "Fjord", "Granite", "Harbor", "Ironbark", "Juniper", "Keystone", "Lumen", "Maple",
    "Meridian", "Nimbus", "Oakridge", "Orbit", "Pinecrest", "Quartz", "Redwood", "Silverline",
    "Summit", "Tidewater", "Umbra", "Vantage", "Westbrook", "Yellowfin", "Zenith",
)
COMPANY_SUFFIXES = (
    "Analytics", "Logistics", "Systems", "Labs", "Software", "Health", "Foods", "Energy",
    "Capital", "Robotics", "Consulting", "Manufacturing", "Retail", "Media", "Networks",
)
INDUSTRIES = (
    ("Software", 24), ("Professional services", 12), ("Manufacturing", 12),
    ("Financial services", 10), ("Retail", 9), ("Healthcare", 8), ("Logistics", 7),
    ("Education", 5), ("Telecommunications", 5), ("Energy", 4), ("Media", 4),
)
COUNTRIES = (
    ("US", 26), ("GB", 14), ("DE", 14), ("FR", 8), ("NL", 7), ("SE", 5), ("ES", 5), ("IT", 4),
    ("CA", 4), ("IE", 3), ("DK", 3), ("PL", 3), ("CH", 2), ("AU", 2),
)
FREE_MAIL_DOMAINS = ("example.com", "example.net", "example.org")

MQL_NOTES = ("", "", "Score passed the MQL threshold", "Downloaded the pricing guide",
             "Attended the webinar")
SQL_NOTES = ("Discovery call done: budget and timeline confirmed", "Accepted by sales",
             "Pain confirmed, decision maker on the call")
SKIP_NOTES = ("Qualified in person", "Warm introduction from a customer",
              "Asked for a quote on the first call")
OPPORTUNITY_NOTES = ("Proposal sent", "Demo held, preparing a quote", "Pricing shared")
WON_NOTES = ("Contract signed", "Purchase order received", "Signed after the pilot")
LOST_REASONS = (
    ("Chose a competitor", 40), ("No budget", 25), ("No decision, went dark", 20),
    ("Timing: revisit next year", 10), ("Price too high", 5),
)
DISQUALIFY_REASONS = (
    ("Not in target market", 40), ("Not interested", 35), ("Company too small", 15),
    ("Student or job seeker", 10),
)

FORMS = ("Contact us", "Pricing guide download", "Webinar registration", "Free trial signup",
         "Newsletter signup")
PAGES = ("/", "/pricing", "/features", "/integrations", "/customers", "/blog/funnel-metrics",
         "/blog/lead-scoring-basics", "/docs/getting-started")
EMAIL_SUBJECTS = ("Your pricing guide", "5 funnel metrics that matter", "Webinar: KPIs in context",
                  "Customer story: 30% more SQLs", "What's new this month")
CALL_OUTCOMES = ("Connected", "Connected", "Left voicemail", "No answer")
MEETING_TITLES = ("Discovery call", "Product demo", "Technical deep dive", "Pricing review")
