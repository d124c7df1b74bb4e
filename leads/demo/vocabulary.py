"""The words and weights demo data is made of. Small hard-coded lists: no Faker, no network.

Every email domain is under a reserved name (RFC 2606: `.example`, `example.com`), so nothing
seeded here can ever reach a real mailbox.
"""

from typing import NamedTuple

from campaigns.models import CampaignStatus, Channel
from leads import roles
from leads.stages import Stage


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

# --- campaigns -----------------------------------------------------------------------------------


class CampaignSpec(NamedTuple):
    """A demo campaign. Dates are days from the anchor's date (negative: in the past)."""

    name: str
    channel: str
    utm_campaign: str
    status: str
    start: int
    end: int
    utm_source: str
    utm_medium: str
    landing_path: str  # under SITE
    cta: str  # the landing page's offer
    weight: int  # its share of its channel's leads and traffic while it runs
    cpc: float = 0.0  # paid: cost per click, EUR
    ctr: float = 0.0  # paid: clicks / impressions
    paused: int | None = None  # a paused campaign ran until this day
    cost: int = 0  # events: the event's cost; nurture: the tool's per year; draft: its budget


SITE = "https://www.funnelcrm.example"
DEMO_MARKETER = "marketer"  # owns every demo campaign
A, E = CampaignStatus.ACTIVE, CampaignStatus.ENDED
P, D = CampaignStatus.PAUSED, CampaignStatus.DRAFT
PS, SO, EM, EV = Channel.PAID_SEARCH, Channel.PAID_SOCIAL, Channel.EMAIL, Channel.EVENTS
CAMPAIGNS = (
    CampaignSpec("Search - Brand", PS, "search-brand", A, -540, 120, "google", "cpc",
                 "/lp/funnelcrm", "demo-request", 3, cpc=1.9, ctr=0.048),
    CampaignSpec("Search - CRM software", PS, "search-crm-software", A, -500, 60, "google",
                 "cpc", "/lp/b2b-crm-software", "pricing-guide", 5, cpc=5.4, ctr=0.031),
    CampaignSpec("Search - Competitor terms", PS, "search-competitors", A, -420, 90, "google",
                 "cpc", "/lp/compare", "demo-request", 2, cpc=7.2, ctr=0.021),
    CampaignSpec("Search - Lead scoring", PS, "search-lead-scoring", A, -210, 150, "bing", "cpc",
                 "/lp/lead-scoring", "free-trial", 1, cpc=3.1, ctr=0.027),
    CampaignSpec("LinkedIn - Lead gen forms", SO, "linkedin-leadgen", A, -480, 90, "linkedin",
                 "paid_social", "/lp/pricing-guide", "pricing-guide", 4, cpc=7.8, ctr=0.011),
    CampaignSpec("LinkedIn - Retargeting", SO, "linkedin-retargeting", P, -300, 30, "linkedin",
                 "paid_social", "/lp/customer-stories", "demo-request", 2, cpc=4.6, ctr=0.014,
                 paused=-40),
    CampaignSpec("Meta - Funnel metrics webinar", SO, "meta-webinar-funnel", E, -250, -200,
                 "facebook", "paid_social", "/webinars/funnel-metrics", "webinar-signup", 3,
                 cpc=1.5, ctr=0.016),
    CampaignSpec("LinkedIn - Product launch", SO, "linkedin-product-launch", D, 20, 80,
                 "linkedin", "paid_social", "/lp/product-launch", "demo-request", 3, cpc=8.0,
                 ctr=0.01, cost=15000),
    CampaignSpec("Monthly newsletter", EM, "newsletter-monthly", A, -545, 200, "newsletter",
                 "email", "/newsletter/latest", "pricing-guide", 6),
    CampaignSpec("Nurture - Pricing guide", EM, "nurture-pricing-guide", A, -420, 120, "nurture",
                 "email", "/lp/pricing-guide-next-steps", "demo-request", 2, cost=1800),
    CampaignSpec("Nurture - Webinar follow-up", EM, "nurture-webinar-followup", A, -260, 100,
                 "nurture", "email", "/webinars/funnel-metrics-recording", "demo-request", 1,
                 cost=1200),
    CampaignSpec("B2B Growth Summit booth", EV, "event-growth-summit", E, -382, -380,
                 "growth-summit", "event", "/events/growth-summit", "booth-conversation", 3,
                 cost=18000),
    CampaignSpec("Customer roadshow", EV, "event-customer-roadshow", E, -104, -100, "roadshow",
                 "event", "/events/roadshow", "booth-conversation", 2, cost=11000),
)
# utm_content of a campaign's links, by channel; search campaigns also carry a keyword.
UTM_CONTENT = {
    PS: ("rsa-a", "rsa-b", "rsa-c"),
    SO: ("single-image", "carousel", "video-30s"),
    EM: ("header-button", "inline-link", "footer-link"),
    EV: ("badge-scan", "qr-code"),
}
SEARCH_TERMS = {
    "search-brand": ("funnelcrm", "funnel crm", "funnelcrm pricing"),
    "search-crm-software": ("b2b crm software", "crm for b2b", "lead management software",
                            "sales pipeline tool"),
    "search-competitors": ("hubspot alternative", "pipedrive alternative",
                           "salesforce alternative"),
    "search-lead-scoring": ("lead scoring software", "lead scoring model"),
}
# UTM source and medium of a lead no campaign brought, by channel (none: no UTM at all).
UNTAGGED_UTM = {
    PS: (("google", "cpc"),),
    SO: (("linkedin", "paid_social"),),
    Channel.ORGANIC_SOCIAL: (("linkedin", "social"), ("twitter", "social")),
    EM: (("email", "email"),),
    Channel.REFERRAL: (("g2", "referral"), ("capterra", "referral"), ("partner-blog", "referral")),
}

# The content / CTA a lead responded to, and the form that offers it.
CTA_FORMS = {
    "pricing-guide": "Pricing guide download",
    "demo-request": "Demo request",
    "contact-form": "Contact us",
    "newsletter-signup": "Newsletter signup",
    "webinar-signup": "Webinar registration",
    "free-trial": "Free trial signup",
}
SITE_CTAS = {"pricing-guide": 25, "demo-request": 20, "contact-form": 25, "newsletter-signup": 15,
             "webinar-signup": 10, "free-trial": 5}
# Leads a rep types in arrive through a conversation, not a form.
TYPED_IN_CTA = {EV: "booth-conversation", Channel.OTHER: "phone-inquiry"}
# Where a visitor no campaign brought lands, by channel.
SITE_LANDING = {
    Channel.ORGANIC_SEARCH: ("/blog/funnel-metrics", "/blog/lead-scoring-basics",
                             "/blog/b2b-kpis", "/features", "/pricing", "/"),
    Channel.ORGANIC_SOCIAL: ("/blog/funnel-metrics", "/blog/b2b-kpis", "/customers"),
    Channel.REFERRAL: ("/customers", "/integrations", "/"),
    Channel.DIRECT: ("/", "/pricing", "/features"),
}
SITE_LANDING_DEFAULT = ("/", "/pricing")
# How a lead comes back later: the channel of its return visit.
RETURN_CHANNELS = {Channel.DIRECT: 25, Channel.ORGANIC_SEARCH: 25, PS: 20, SO: 15,
                   Channel.ORGANIC_SOCIAL: 10, Channel.REFERRAL: 5}

# --- nurture ------------------------------------------------------------------------------------


class WorkflowSpec(NamedTuple):
    name: str
    campaign: str  # utm_campaign of the email campaign that sends it
    goal: str
    goal_stage: str  # reaching it is the goal
    subjects: tuple[str, ...]  # one email a week, in this order


WORKFLOWS = (
    WorkflowSpec("Pricing guide follow-up", "nurture-pricing-guide",
                 "Sales-qualified: a demo booked", Stage.SQL,
                 ("Your pricing guide", "5 funnel metrics that matter",
                  "Customer story: 30% more SQLs")),
    WorkflowSpec("Webinar attendees", "nurture-webinar-followup",
                 "Sales-qualified: a demo booked", Stage.SQL,
                 ("Webinar: KPIs in context (recording)", "Your funnel metrics checklist",
                  "Book a walkthrough of your funnel")),
    WorkflowSpec("Newsletter onboarding", "newsletter-monthly", "Marketing-qualified", Stage.MQL,
                 ("Welcome to the FunnelCRM newsletter", "Lead scoring basics",
                  "What's new this month")),
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

PAGES = ("/", "/pricing", "/features", "/integrations", "/customers", "/blog/funnel-metrics",
         "/blog/lead-scoring-basics", "/docs/getting-started")
CALL_OUTCOMES = ("Connected", "Connected", "Left voicemail", "No answer")
MEETING_TITLES = ("Discovery call", "Product demo", "Technical deep dive", "Pricing review")
