-- The name a person gives a meter in the app. Kept apart from meters.name, which each payload
-- from the source may rewrite, so that a sync never undoes the user's choice.
ALTER TABLE meters ADD COLUMN display_name TEXT NOT NULL DEFAULT '';
