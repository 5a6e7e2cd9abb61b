-- Replicas notice each other's changes to webhooks and agents by reading one row:
-- a counter bumped in the same transaction as the change, by triggers, so every
-- writer (the API, the CLI) bumps it. The triggers also announce the change on the
-- schema's channel (`switchyard_` and the schema name, as `PgStore::subscribe`
-- listens), delivered at commit: `- registry`, `- agent:NAME`, `- destination:ID`.
CREATE TABLE change_counters (
    name    TEXT PRIMARY KEY,
    version BIGINT NOT NULL
);
INSERT INTO change_counters (name, version) VALUES ('registry', 0);

CREATE FUNCTION switchyard_webhook_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- The table's own schema, whatever the writer's search_path.
    EXECUTE format('UPDATE %I.change_counters SET version = version + 1 WHERE name = %L',
                   TG_TABLE_SCHEMA, 'registry');
    PERFORM pg_notify(left('switchyard_' || TG_TABLE_SCHEMA, 63), '- registry');
    RETURN NULL;
END
$$;

CREATE FUNCTION switchyard_agent_changed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    agent TEXT;
BEGIN
    IF TG_OP = 'DELETE' THEN
        agent := OLD.name;
    ELSE
        agent := NEW.name;
    END IF;
    -- The table's own schema, whatever the writer's search_path.
    EXECUTE format('UPDATE %I.change_counters SET version = version + 1 WHERE name = %L',
                   TG_TABLE_SCHEMA, 'registry');
    PERFORM pg_notify(left('switchyard_' || TG_TABLE_SCHEMA, 63), '- agent:' || agent);
    RETURN NULL;
END
$$;

CREATE FUNCTION switchyard_destination_changed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    destination TEXT;
BEGIN
    IF TG_OP = 'DELETE' THEN
        destination := OLD.destination_id;
    ELSE
        destination := NEW.destination_id;
    END IF;
    PERFORM pg_notify(left('switchyard_' || TG_TABLE_SCHEMA, 63), '- destination:' || destination);
    RETURN NULL;
END
$$;

CREATE TRIGGER webhooks_changed AFTER INSERT OR UPDATE OR DELETE ON webhooks
    FOR EACH ROW EXECUTE FUNCTION switchyard_webhook_changed();
CREATE TRIGGER agents_changed AFTER INSERT OR UPDATE OR DELETE ON agents
    FOR EACH ROW EXECUTE FUNCTION switchyard_agent_changed();
CREATE TRIGGER destinations_changed AFTER UPDATE OR DELETE ON destinations
    FOR EACH ROW EXECUTE FUNCTION switchyard_destination_changed();
