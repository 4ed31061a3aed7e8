//! The nouns of the ledger: items, tickets, use orders, cancels and their transactions.

use crate::alipay::money::Cents;

/// How a ticket code is named in a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeType {
    /// A 12-digit code we generated, unique across the system.
    Internal,
    /// A merchant's own code, unique only together with its `order_no`.
    External,
}

impl CodeType {
    pub fn parse(text: Option<&str>) -> Option<CodeType> {
        match text {
            None | Some("INTERNAL_CODE") => Some(CodeType::Internal),
            Some("EXTERNAL_CODE") => Some(CodeType::External),
            Some(_) => None,
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            CodeType::Internal => "INTERNAL_CODE",
            CodeType::External => "EXTERNAL_CODE",
        }
    }
}

/// Through which door a use came in. Only open-platform uses can be cancelled through it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    OpenPlatform,
    MerchantConsole,
}

impl Channel {
    pub fn name(self) -> &'static str {
        match self {
            Channel::OpenPlatform => "OPEN_PLATFORM",
            Channel::MerchantConsole => "MERCHANT_CONSOLE",
        }
    }
    pub fn parse(text: &str) -> Channel {
        if text == "MERCHANT_CONSOLE" {
            Channel::MerchantConsole
        } else {
            Channel::OpenPlatform
        }
    }
}

/// What a merchant sells.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    pub item_id: String,
    pub merchant_pid: String,
    pub name: String,
    pub alias: Option<String>,
    pub original_price: Cents,
    pub price: Cents,
    /// Number of uses of a times card (次卡); `None` for a normal ticket.
    pub times: Option<i64>,
    /// Shops where it may be used; `None` means every shop of the merchant.
    pub shop_ids: Option<Vec<String>>,
    pub valid_from: Option<i64>,
    pub valid_to: Option<i64>,
}

/// The item's fields as both the use and the query answer show them.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ItemFields {
    pub item_id: String,
    pub item_name: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub item_alias: Option<String>,
    pub original_price: String,
    pub current_price: String,
}

impl Item {
    pub fn answer_fields(&self) -> ItemFields {
        ItemFields {
            item_id: self.item_id.clone(),
            item_name: self.name.clone(),
            item_alias: self.alias.clone(),
            original_price: self.original_price.yuan(),
            current_price: self.price.yuan(),
        }
    }

    pub fn usable_at(&self, shop_id: &str) -> bool {
        self.shop_ids
            .as_ref()
            .is_none_or(|shops| shops.iter().any(|s| s == shop_id))
    }
}

/// One ticket (凭证). `available_quantity` is a cache of its transactions, kept in step in
/// the same database transaction that writes them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ticket {
    pub voucher_id: String,
    pub code: String,
    pub code_type: CodeType,
    pub order_no: String,
    pub merchant_pid: String,
    pub item_id: String,
    pub total_quantity: i64,
    pub available_quantity: i64,
    pub refunded: bool,
    pub effect_at: i64,
    pub expire_at: i64,
}

/// A ticket with its item, as every decision needs both.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TicketView {
    pub ticket: Ticket,
    pub item: Item,
}

impl TicketView {
    /// A times card (次卡): an item sold as one, or a code merchant's code that carries
    /// several uses.
    pub fn is_times_card(&self) -> bool {
        self.item.times.is_some() || self.ticket.total_quantity > 1
    }

    /// The ticket's state as seen from `shop_id` at `now` (`None` when no shop is in view).
    pub fn status(&self, shop: Option<&ShopFacts>, now: i64) -> TicketStatus {
        self.ticket.status(&self.item, shop, now)
    }
}

impl Ticket {
    /// The ticket's state as seen from `shop_id` at `now`, given its item.
    pub fn status(&self, item: &Item, shop: Option<&ShopFacts>, now: i64) -> TicketStatus {
        let t = self;
        if t.refunded {
            TicketStatus::Refunded
        } else if t.available_quantity == 0 {
            TicketStatus::Used
        } else if now < t.effect_at
            || now > t.expire_at
            || shop.is_some_and(|s| !s.known || !item.usable_at(&s.shop_id))
        {
            TicketStatus::UnEffective
        } else {
            TicketStatus::Effective
        }
    }
}

/// What the store knows of the shop named in a call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShopFacts {
    pub shop_id: String,
    /// The shop is registered for the ticket's merchant.
    pub known: bool,
    pub name: Option<String>,
}

impl ShopFacts {
    /// The facts of shop `shop_id` given its name, if the store has the shop.
    pub fn named(shop_id: &str, name: Option<String>) -> ShopFacts {
        ShopFacts {
            shop_id: shop_id.to_string(),
            known: name.is_some(),
            name,
        }
    }
}

/// The six published states, with their exact descriptions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TicketStatus {
    Effective,
    UnEffective,
    Used,
    Refunded,
    Using,
    Refunding,
}

impl TicketStatus {
    pub fn name(self) -> &'static str {
        match self {
            TicketStatus::Effective => "EFFECTIVE",
            TicketStatus::UnEffective => "UN_EFFECTIVE",
            TicketStatus::Used => "USED",
            TicketStatus::Refunded => "REFUNDED",
            TicketStatus::Using => "USING",
            TicketStatus::Refunding => "REFUNDING",
        }
    }
    pub fn desc(self) -> &'static str {
        match self {
            TicketStatus::Effective => "未核销，且可以在当前门店核销",
            TicketStatus::UnEffective => "未核销，但不可以在当前门店核销",
            TicketStatus::Used => "该券已经被消费，无法核销",
            TicketStatus::Refunded => "该券已经退款，无法核销",
            TicketStatus::Using => "该券正在核销处理中,无法核销",
            TicketStatus::Refunding => "该券正在退款处理中,无法核销",
        }
    }
}

/// The kinds of immutable ticket transactions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransKind {
    Use,
    Cancel,
    Refund,
    /// A new expiry date; no units change.
    Delay,
}

impl TransKind {
    pub fn name(self) -> &'static str {
        match self {
            TransKind::Use => "USE",
            TransKind::Cancel => "CANCEL",
            TransKind::Refund => "REFUND",
            TransKind::Delay => "DELAY",
        }
    }
    pub fn parse(text: &str) -> Option<TransKind> {
        match text {
            "USE" => Some(TransKind::Use),
            "CANCEL" => Some(TransKind::Cancel),
            "REFUND" => Some(TransKind::Refund),
            "DELAY" => Some(TransKind::Delay),
            _ => None,
        }
    }
}

/// One immutable change to one ticket. A cancel points at the use it reverses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trans {
    pub trans_id: String,
    pub voucher_id: String,
    pub kind: TransKind,
    pub quantity: i64,
    pub use_order_id: Option<String>,
    pub reverses_trans_id: Option<String>,
    /// A delay's (old, new) expiry.
    pub expire_change: Option<(i64, i64)>,
    pub created_at: i64,
}

impl Trans {
    /// The change to the ticket's available quantity. A refund that points at a use (售后退)
    /// gives nothing back and takes nothing more: those units were already used. A refund of
    /// what remains (the operator's whole-ticket refund, a closed send order) takes it.
    pub fn available_delta(&self) -> i64 {
        match self.kind {
            TransKind::Use => -self.quantity,
            TransKind::Cancel => self.quantity,
            TransKind::Refund if self.reverses_trans_id.is_some() => 0,
            TransKind::Refund => -self.quantity,
            TransKind::Delay => 0,
        }
    }
}

/// A use order: successful, or closed (refused). Its answer is in the idempotency record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UseOrder {
    pub use_order_id: String,
    pub merchant_pid: String,
    pub request_id: String,
    pub channel: Channel,
    pub closed: bool,
    pub ticket_code: String,
    /// `None` for a closed use that named a code type that does not exist.
    pub code_type: Option<CodeType>,
    pub order_no: Option<String>,
    /// The named ticket, once it was found.
    pub voucher_id: Option<String>,
    pub quantity: i64,
    pub created_at: i64,
}

/// A successful cancel of one use order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CancelRecord {
    pub cancel_id: String,
    pub merchant_pid: String,
    pub request_id: String,
    pub use_order_id: String,
    /// The cancel transaction on the ticket named in the call.
    pub trans_id: String,
    pub created_at: i64,
}

/// The remaining quantity that a ticket's transactions imply.
pub fn available_from(total: i64, trans: &[Trans]) -> i64 {
    total + trans.iter().map(Trans::available_delta).sum::<i64>()
}
