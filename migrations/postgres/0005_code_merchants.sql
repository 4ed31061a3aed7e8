-- The code merchant (码商) flow: an item fulfilled by a code merchant's app, and one send order
-- (发放单) per order of such an item, through which the code merchant registers its codes.
CREATE TABLE code_merchant_items (
    item_id TEXT PRIMARY KEY REFERENCES items (item_id),
    app_id TEXT NOT NULL REFERENCES apps (app_id),
    created_at BIGINT NOT NULL
);

CREATE TABLE send_orders (
    send_order_no TEXT PRIMARY KEY,
    order_no TEXT NOT NULL UNIQUE REFERENCES orders (order_no),
    merchant_pid TEXT NOT NULL REFERENCES merchants (pid),
    item_id TEXT NOT NULL REFERENCES items (item_id),
    -- The code merchant's app: the one that may send, check, sync and close.
    app_id TEXT NOT NULL REFERENCES apps (app_id),
    send_token TEXT NOT NULL,
    -- Tickets bought; codes registered so far; tickets never sent, refunded when closed.
    quantity BIGINT NOT NULL,
    sent BIGINT NOT NULL,
    refunded BIGINT NOT NULL,
    closed_at BIGINT,
    close_reason TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    CHECK (sent + refunded <= quantity)
);
