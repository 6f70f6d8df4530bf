"""The GraphQL text of every call the Shopify source makes, and each query's requested cost.

Costs follow Shopify's calculated query cost: an object costs 1, a connection costs 2 plus
`first` times the cost of its nodes, scalars and enums are free. The source picks `first`
from the cost it is allowed to request (`source.max_query_cost`).
"""

from __future__ import annotations

__all__ = [
    "BULK_OPERATION",
    "BULK_ORDERS",
    "BULK_RUN",
    "DISCOUNTS",
    "INVENTORY",
    "LINES_PER_ORDER",
    "ORDERS",
    "PRODUCTS",
    "REFUNDS_PER_ORDER",
    "SCOPES",
    "SESSIONS",
    "SHIPMENTS",
    "SHIPMENT_NODE_COST",
    "bulk_orders",
    "order_cost",
    "orders_page_size",
]

LINES_PER_ORDER = 30
REFUNDS_PER_ORDER = 3
REFUND_LINES = 10

_ORDER_FIELDS = """
    id
    name
    createdAt
    updatedAt
    cancelledAt
    closedAt
    displayFinancialStatus
    sourceName
    customer { id }
    customerJourneySummary { lastVisit { source } }
    transactions(first: 5) { kind status processedAt }
    refunds(first: @REFUNDS@) {
      id
      createdAt
      refundLineItems@REFUND_LINES@
    }
"""

_LINE_FIELDS = """
    id
    sku
    quantity
    unfulfilledQuantity
    originalUnitPriceSet { shopMoney { amount } }
    discountedTotalSet { shopMoney { amount } }
    discountAllocations {
      discountApplication {
        ... on AutomaticDiscountApplication { title }
        ... on DiscountCodeApplication { code }
      }
    }
"""

_ORDERS = """
query Orders($first: Int!, $after: String, $query: String!) {
  orders(first: $first, after: $after, query: $query, sortKey: UPDATED_AT) {
    pageInfo { hasNextPage endCursor }
    nodes {
      @ORDER@
      lineItems(first: @LINES@) { nodes { @LINE@ } }
    }
  }
}
"""

# A bulk query names no `first` on its connections; Shopify pages them itself and writes each
# node of a nested connection on its own JSONL line, with `__parentId` naming its parent.
_BULK_ORDERS = """
{
  orders(query: "@QUERY@", sortKey: UPDATED_AT) {
    edges { node {
      @ORDER@
      lineItems { edges { node { @LINE@ } } }
    } }
  }
}
"""


def _fill(text: str, **parts: str) -> str:
    for name, value in parts.items():
        text = text.replace(f"@{name}@", value)
    return text


ORDERS = _fill(
    _ORDERS,
    ORDER=_fill(
        _ORDER_FIELDS,
        REFUNDS=str(REFUNDS_PER_ORDER),
        REFUND_LINES=f"(first: {REFUND_LINES}) {{ nodes {{ restockType lineItem {{ id }} }} }}",
    ),
    LINES=str(LINES_PER_ORDER),
    LINE=_LINE_FIELDS,
)

BULK_ORDERS = _fill(
    _BULK_ORDERS,
    ORDER=_fill(
        _ORDER_FIELDS,
        REFUNDS=str(REFUNDS_PER_ORDER),
        REFUND_LINES=" { edges { node { restockType lineItem { id } } } }",
    ),
    LINE=_LINE_FIELDS,
)


def bulk_orders(search: str) -> str:
    """The bulk orders query for one search string (e.g. an updated_at range)."""
    return BULK_ORDERS.replace("@QUERY@", search.replace("\\", "\\\\").replace('"', '\\"'))


BULK_RUN = """
mutation BulkRun($query: String!) {
  bulkOperationRunQuery(query: $query) {
    bulkOperation { id status }
    userErrors { field message }
  }
}
"""

BULK_OPERATION = """
query BulkOperation($id: ID!) {
  bulkOperation(id: $id) { id status errorCode objectCount url partialDataUrl }
}
"""

PRODUCTS = """
query Products($first: Int!, $after: String, $query: String!) {
  products(first: $first, after: $after, query: $query, sortKey: UPDATED_AT) {
    pageInfo { hasNextPage endCursor }
    nodes {
      id
      title
      productType
      updatedAt
      safetyStock: metafield(namespace: "shoppulse", key: "safety_stock") { value }
      variants(first: 50) { nodes { sku price compareAtPrice } }
    }
  }
}
"""

INVENTORY = """
query Inventory($first: Int!, $after: String) {
  productVariants(first: $first, after: $after) {
    pageInfo { hasNextPage endCursor }
    nodes {
      sku
      inventoryItem {
        inventoryLevels(first: 10) {
          nodes {
            location { name }
            quantities(names: ["available", "committed"]) { name quantity }
          }
        }
      }
    }
  }
}
"""

DISCOUNTS = """
query Discounts($first: Int!, $after: String, $query: String) {
  discountNodes(first: $first, after: $after, query: $query) {
    pageInfo { hasNextPage endCursor }
    nodes {
      id
      discount {
        __typename
        ... on DiscountAutomaticBasic { title startsAt endsAt updatedAt
          minimumRequirement { ...Minimum } customerGets { ...Gets } }
        ... on DiscountCodeBasic { title startsAt endsAt updatedAt
          codes(first: 1) { nodes { code } }
          minimumRequirement { ...Minimum } customerGets { ...Gets } }
        ... on DiscountAutomaticBxgy { title startsAt endsAt updatedAt customerGets { ...Gets } }
        ... on DiscountCodeBxgy { title startsAt endsAt updatedAt
          codes(first: 1) { nodes { code } } customerGets { ...Gets } }
      }
    }
  }
}
fragment Minimum on DiscountMinimumRequirement {
  ... on DiscountMinimumSubtotal { greaterThanOrEqualToSubtotal { amount } }
}
fragment Gets on DiscountCustomerGets {
  value {
    ... on DiscountPercentage { percentage }
    ... on DiscountAmount { amount { amount } appliesOnEachItem }
    ... on DiscountOnQuantity { quantity { quantity }
      effect { ... on DiscountPercentage { percentage } } }
  }
  items {
    ... on AllDiscountItems { allItems }
    ... on DiscountProducts { productVariants(first: 100) { nodes { sku price } } }
  }
}
"""

# An order's fulfillment promise (FulfillmentOrder.fulfillBy), its fulfillments (createdAt: when
# it shipped) and its returns (createdAt, and each return line item's reason).
SHIPMENTS = """
query Shipments($first: Int!, $after: String, $query: String!) {
  orders(first: $first, after: $after, query: $query, sortKey: UPDATED_AT) {
    pageInfo { hasNextPage endCursor }
    nodes {
      name
      updatedAt
      fulfillmentOrders(first: 5) { nodes { fulfillBy status } }
      fulfillments(first: 5) { createdAt status }
      returns(first: 3) {
        nodes {
          createdAt
          status
          returnLineItems(first: 5) { nodes { returnReason returnReasonNote } }
        }
      }
    }
  }
}
"""
# one order node: itself 1, fulfillmentOrders 2 + 5, fulfillments 5, returns 2 + 3 × (1 + 2 + 5)
SHIPMENT_NODE_COST = 1 + (2 + 5) + 5 + (2 + 3 * (1 + 2 + 5))

SESSIONS = """
query Sessions($query: String!) {
  shopifyqlQuery(query: $query) {
    parseErrors
    tableData { columns { name dataType } rows }
  }
}
"""

SCOPES = """
query Scopes { currentAppInstallation { accessScopes { handle } } }
"""


def order_cost() -> int:
    """Requested cost of one order node with its nested lists and connections."""
    refund = 1 + (2 + REFUND_LINES * 2)
    return 4 + (2 + 5) + REFUNDS_PER_ORDER * refund + (2 + LINES_PER_ORDER * 4)


def orders_page_size(max_cost: int) -> int:
    """The largest `first` whose requested cost stays within `max_cost` (1 to 250)."""
    return max(1, min(250, (max_cost - 2) // order_cost()))
