-- Replicas notice each other's changes to webhooks and agents by reading one row:
-- a counter bumped in the same transaction as the change, by triggers, so every
-- writer (the API, the CLI) bumps it. (PostgreSQL also announces the change.)
CREATE TABLE change_counters (
    name    TEXT PRIMARY KEY,
    version BIGINT NOT NULL
);
INSERT INTO change_counters (name, version) VALUES ('registry', 0);

CREATE TRIGGER webhooks_inserted_registry AFTER INSERT ON webhooks
BEGIN UPDATE change_counters SET version = version + 1 WHERE name = 'registry'; END;
CREATE TRIGGER webhooks_updated_registry AFTER UPDATE ON webhooks
BEGIN UPDATE change_counters SET version = version + 1 WHERE name = 'registry'; END;
CREATE TRIGGER webhooks_deleted_registry AFTER DELETE ON webhooks
BEGIN UPDATE change_counters SET version = version + 1 WHERE name = 'registry'; END;
CREATE TRIGGER agents_inserted_registry AFTER INSERT ON agents
BEGIN UPDATE change_counters SET version = version + 1 WHERE name = 'registry'; END;
CREATE TRIGGER agents_updated_registry AFTER UPDATE ON agents
BEGIN UPDATE change_counters SET version = version + 1 WHERE name = 'registry'; END;
CREATE TRIGGER agents_deleted_registry AFTER DELETE ON agents
BEGIN UPDATE change_counters SET version = version + 1 WHERE name = 'registry'; END;
