"""The one internal customer schema every later stage reads.

Both input schemas (the PRD's short table and the raw Kaggle "Customer Personality Analysis"
table) are normalized to these columns by ``genemail.data.loader``. Columns a source cannot
provide are present and missing (NaN / <NA>), never absent: downstream code may rely on every
column existing.
"""

from __future__ import annotations

from dataclasses import dataclass

# Spending categories of the Kaggle table (Mnt* columns), in display order.
SPEND_CATEGORIES: tuple[str, ...] = ("wines", "fruits", "meat", "fish", "sweets", "gold")
PURCHASE_CHANNELS: tuple[str, ...] = ("web", "catalog", "store", "deals")

# Kid age bands used by the PRD's ``KidAge`` column and derived from Kidhome/Teenhome.
KID_AGE_BANDS: tuple[str, ...] = ("none", "young", "teen", "young_and_teen")

MARITAL_STATUSES: tuple[str, ...] = ("Single", "Together", "Married", "Divorced", "Widow", "Unknown")
GENDERS: tuple[str, ...] = ("Female", "Male", "Other", "Unknown")
EDUCATION_LEVELS: tuple[str, ...] = ("Basic", "2n Cycle", "Graduation", "Master", "PhD", "Unknown")


# Customer IDs: letters, digits, '.', '_' and '-', starting with a letter or digit, at most 64
# characters. IDs are keys (files, the app, campaign logs) and may appear in a prompt, so they can
# carry no spaces, punctuation or instructions.
MAX_ID_LENGTH = 64
CUSTOMER_ID_PATTERN = rf"[A-Za-z0-9][A-Za-z0-9._-]{{0,{MAX_ID_LENGTH - 1}}}"
CUSTOMER_ID_RULE = f"letters, digits, '.', '_' or '-' (starting with a letter or digit, at most {MAX_ID_LENGTH})"


@dataclass(frozen=True)
class Column:
    name: str
    dtype: str  # pandas dtype name
    doc: str


COLUMNS: tuple[Column, ...] = (
    Column("customer_id", "string", f"Customer ID as text: {CUSTOMER_ID_RULE}; unique after cleaning."),
    Column("gender", "string", f"One of {GENDERS} if the source has it (PRD schema), else <NA>."),
    Column("age", "float64", "Age in whole years at the reference date."),
    Column("education", "string", f"One of {EDUCATION_LEVELS}."),
    Column("marital_status", "string", f"One of {MARITAL_STATUSES} (Alone->Single; Absurd, YOLO->Unknown)."),
    Column("income", "float64", "Yearly household income; NaN when unknown (imputation is flagged)."),
    Column("income_imputed", "bool", "True where income was missing and imputed by the cleaner."),
    Column("kids", "Int64", "Young children at home (Kidhome)."),
    Column("teens", "Int64", "Teenagers at home (Teenhome)."),
    Column("children", "Int64", "kids + teens."),
    Column("kid_age", "string", f"One of {KID_AGE_BANDS}."),
    Column("family_size", "Int64", "Adults (1, or 2 when Married/Together) + children; PRD Familysize."),
    Column("recency", "float64", "Days since last purchase."),
    Column("tenure_days", "float64", "Days since the customer joined (Dt_Customer) at the reference date."),
    *(Column(f"spend_{c}", "float64", f"Amount spent on {c} in the last two years.") for c in SPEND_CATEGORIES),
    Column("total_spend", "float64", "Sum of spend_* (NaN when the source has no spend columns)."),
    *(Column(f"purchases_{c}", "float64", f"Number of {c} purchases.") for c in PURCHASE_CHANNELS),
    Column("total_purchases", "float64", "web + catalog + store purchases."),
    Column("web_visits_month", "float64", "Website visits last month."),
    Column("accepted_campaigns", "float64", "Campaigns accepted (AcceptedCmp1-5 + Response)."),
    Column("favourite_category", "string", f"Category with the highest spend, one of {SPEND_CATEGORIES}, or <NA>."),
    Column("purchase_frequency", "float64", "Purchases per 30 days of tenure."),
)

COLUMN_NAMES: tuple[str, ...] = tuple(c.name for c in COLUMNS)
DTYPES: dict[str, str] = {c.name: c.dtype for c in COLUMNS}

# Raw input schemas: required columns (case-insensitive match; extra columns are ignored).
PRD_REQUIRED: tuple[str, ...] = (
    "ID", "Gender", "Age", "Education", "Marital_Status", "Income", "KidAge", "Familysize", "Recency",
)
KAGGLE_REQUIRED: tuple[str, ...] = (
    "ID", "Year_Birth", "Education", "Marital_Status", "Income", "Kidhome", "Teenhome",
    "Dt_Customer", "Recency", "MntWines", "MntFruits", "MntMeatProducts", "MntFishProducts",
    "MntSweetProducts", "MntGoldProds", "NumDealsPurchases", "NumWebPurchases",
    "NumCatalogPurchases", "NumStorePurchases", "NumWebVisitsMonth",
)
CAMPAIGN_COLUMNS: tuple[str, ...] = tuple(f"AcceptedCmp{i}" for i in range(1, 6)) + ("Response",)
OPTIONAL_COLUMNS: tuple[str, ...] = CAMPAIGN_COLUMNS + ("Complain", "Z_CostContact", "Z_Revenue")
# Raw columns read as text (everything else of the raw schemas is a number).
RAW_TEXT_COLUMNS: frozenset[str] = frozenset({"ID", "Gender", "Education", "Marital_Status", "KidAge", "Dt_Customer"})
