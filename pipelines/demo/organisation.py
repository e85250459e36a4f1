"""The demo's service organisation: its channels, ticket categories, teams and agents, products,
regions and customers, with the shares, rates and service levels it runs at in normal times.

Constants only, one per fact; the simulation (``tickets``, ``surveys``) draws from them and the
frames (``frames``) label with them. Index arrays line up with their label tuples.
"""

from __future__ import annotations

import numpy as np

# --- The organisation --------------------------------------------------------------------------

CHANNELS = ("email", "phone", "chat", "web", "social")
CHANNEL_SHARE = np.array([0.30, 0.25, 0.25, 0.12, 0.08])
# Live channels answer within minutes; queued channels take about half an hour at normal load.
CHANNEL_RESPONSE_MEDIAN_MINUTES = np.array([30.0, 2.0, 2.5, 22.0, 15.0])
CHANNEL_RESPONSE_SIGMA = np.array([1.0, 1.1, 1.1, 1.0, 1.0])
CHANNEL_COMPLAINT_FACTOR = np.array([1.0, 1.1, 0.8, 0.9, 1.5])

CATEGORIES = (
    "billing",
    "delivery delay",
    "technical fault",
    "account access",
    "product information",
    "refund",
)
CATEGORY_SHARE = np.array([0.20, 0.17, 0.20, 0.15, 0.18, 0.10])
CATEGORY_RESOLUTION_MEDIAN_HOURS = np.array([4.0, 24.0, 8.0, 1.5, 0.5, 30.0])
CATEGORY_COMPLAINT_FACTOR = np.array([1.1, 1.5, 1.2, 0.8, 0.5, 1.3])

TEAMS = ("Billing", "Technical", "Logistics", "Accounts", "Onboarding")
CATEGORY_TEAM = np.array([0, 2, 1, 3, 4, 0])  # index into TEAMS for each of CATEGORIES
AGENTS_PER_TEAM = np.array([12, 8, 7, 6, 7])
AGENT_NAMES = (
    "Alice Moreau", "Ben Okafor", "Chloe Tan", "Daniel Weber", "Elena Rossi", "Farid Haddad",
    "Grace Liu", "Hugo Martin", "Isla Byrne", "Jonas Berg", "Keiko Sato", "Liam Walsh",
    "Maya Patel", "Nikolai Petrov", "Olivia Grant", "Pedro Alves", "Quinn Harper", "Rosa Jimenez",
    "Samuel Adeyemi", "Tara Nolan", "Umar Siddiqui", "Vera Novak", "William Chen", "Xenia Popova",
    "Yusuf Demir", "Zoe Fischer", "Aaron Blake", "Bianca Costa", "Carlos Mendes", "Dana Levi",
    "Erik Lund", "Fatima Zahra", "George Owens", "Hannah Kim", "Ivan Horvat", "Julia Schmidt",
    "Kofi Mensah", "Laura Dubois", "Mateo Garcia", "Nora Lindqvist",
)  # fmt: skip

PRODUCTS = ("Home Broadband", "Mobile Plan", "Streaming TV", "Smart Home Hub", "Home Security")
PRODUCT_SHARE = np.array([0.30, 0.26, 0.18, 0.14, 0.12])

REGIONS = ("East", "West", "North", "South", "Central")
REGION_SHARE = np.array([0.25, 0.20, 0.15, 0.22, 0.18])

PRIORITIES = ("low", "normal", "high", "urgent")
PRIORITY_SHARE = np.array([0.22, 0.55, 0.18, 0.05])
PRIORITY_RESPONSE_FACTOR = np.array([1.3, 1.0, 0.7, 0.4])

TIERS = ("standard", "key_account")
KEY_ACCOUNT_SHARE = 0.10

COMPLAINT_CAUSES = (
    "delivery delay", "wrong information", "staff attitude",
    "billing error", "product fault", "slow response",
)  # fmt: skip
DELIVERY_DELAY, WRONG_INFORMATION, STAFF_ATTITUDE, BILLING_ERROR, PRODUCT_FAULT, SLOW_RESPONSE = range(6)
# The cause a complaint about each ticket category usually has (-1: no typical cause).
CATEGORY_COMPLAINT_CAUSE = np.array([BILLING_ERROR, DELIVERY_DELAY, PRODUCT_FAULT, -1, -1, BILLING_ERROR])
SEVERITIES = ("low", "medium", "high")

COMPLAINT_TEMPLATES = {
    DELIVERY_DELAY: (
        "My {product} order still has not arrived after the promised date.",
        "The {product} delivery was delayed twice and nobody told me why.",
        "I have been waiting more than a week for my {product} delivery.",
    ),
    WRONG_INFORMATION: (
        "The agent gave me wrong information about my {product} plan.",
        "I was told my {product} issue was fixed, but it was not.",
        "Two agents gave me different answers about {product}.",
    ),
    STAFF_ATTITUDE: (
        "The agent was rude and did not listen to my {product} problem.",
        "I felt dismissed when I contacted you about my {product}.",
        "The staff member was impatient and unhelpful.",
    ),
    BILLING_ERROR: (
        "I was charged twice for my {product} subscription.",
        "My {product} bill is higher than the price I agreed to.",
        "A refund for {product} was promised but never arrived.",
    ),
    PRODUCT_FAULT: (
        "My {product} keeps failing and support cannot fix it.",
        "The {product} stopped working after the last update.",
        "The {product} service has been down for days.",
    ),
    SLOW_RESPONSE: (
        "Nobody replied to my {product} request for hours.",
        "I waited far too long for an answer about {product}.",
        "I had to chase support three times before anyone answered.",
    ),
}
POSITIVE_COMMENTS = (
    "Quick and friendly help, thank you.",
    "Problem solved on the first contact.",
    "Very clear explanation.",
    "Great service as always.",
)
NEGATIVE_COMMENTS = (
    "Took far too long to get an answer.",
    "I had to explain my problem several times.",
    "The issue is still not fixed.",
    "The agent did not seem to understand my problem.",
    "Nobody told me what was going on.",
)

TICKET_ATTRIBUTES = (None, {"language": "en"}, {"language": "en", "source": "web_form"}, {"language": "es"})
TICKET_ATTRIBUTE_SHARE = np.array([0.30, 0.45, 0.15, 0.10])
SURVEY_ATTRIBUTES = (None, {"survey_tool": "Qualtrics"}, {"survey_tool": "Qualtrics", "device": "mobile"})
SURVEY_ATTRIBUTE_SHARE = np.array([0.40, 0.35, 0.25])
COMPLAINT_ATTRIBUTES = (None, {"escalated": False}, {"escalated": True, "handled_by": "supervisor"})

# --- Volume and service levels -----------------------------------------------------------------

BASE_DAILY_TICKETS = 300.0
YEARLY_GROWTH = 1.10
WEEKDAY_FACTOR = np.array([1.18, 1.12, 1.08, 1.05, 1.00, 0.62, 0.50])  # Monday first
# Where in the day customers write, in UTC hours.
HOUR_WEIGHTS = np.array(
    [0.3, 0.2, 0.15, 0.15, 0.2, 0.4, 0.9, 1.8, 3.0, 3.6, 3.7, 3.5,
     3.3, 3.4, 3.5, 3.3, 3.0, 2.6, 2.2, 1.9, 1.6, 1.2, 0.8, 0.5]
)  # fmt: skip
LOAD_ELASTICITY = 1.3  # how much slower first responses get as the day's load rises
AGENT_SPEED_SIGMA = 0.2
AGENT_SATISFACTION_SIGMA = 0.25

BASE_COMPLAINT_PROBABILITY = 0.032
SLOW_RESPONSE_COMPLAINT_FACTOR = 1.7
COMPLAINT_RESOLUTION_MEDIAN_HOURS = 4.5
RESOLUTION_SIGMA = 1.2
REOPEN_PROBABILITY = 0.05
CLOSE_DELAY_MEDIAN_HOURS = 60.0
BASE_FOLLOW_UP_PROBABILITY = 0.04

SURVEY_RESPONSE_PROBABILITY = 0.30
NPS_SHARE = 0.08
SERVQUAL_SHARE = 0.5
SERVQUAL_COLUMNS = ("dim_tangibles", "dim_reliability", "dim_responsiveness", "dim_assurance", "dim_empathy")
# Logit of satisfaction for a ticket answered within the hour and solved within a day.
SATISFACTION_BASE_LOGIT = 2.75

SLA_MINUTES = 60.0
MICROS_PER_MINUTE = 60_000_000
MICROS_PER_HOUR = 60 * MICROS_PER_MINUTE
MICROS_PER_DAY = 24 * MICROS_PER_HOUR
