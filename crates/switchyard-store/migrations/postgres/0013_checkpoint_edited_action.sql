-- The action as a person edited it (LangGraph's edit decision: {"name", "args"}), JSON.
ALTER TABLE checkpoints ADD COLUMN edited_action TEXT;
