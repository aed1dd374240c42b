-- Ingestion claims a platform identity before creating its member (so a
-- concurrent batch that loses the race creates no orphan member): the
-- identity's foreign key is checked at commit.
ALTER TABLE member_identities ALTER CONSTRAINT member_identities_member_fkey DEFERRABLE INITIALLY IMMEDIATE;
