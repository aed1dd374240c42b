-- The streak of a member's last check-in day, kept next to `last_day` on
-- their row of the campaign. A check-in that continues a run reads it from
-- the row it locks anyway, instead of reading the check-ins table: on a new
-- campaign's first morning the planner has no statistics for it yet and
-- reads a member's recent days through the campaign's day index, row by
-- row of everyone's days.
ALTER TABLE check_in_members ADD COLUMN last_streak integer;

UPDATE check_in_members m SET last_streak = c.streak
FROM check_ins c
WHERE c.workspace_id = m.workspace_id AND c.campaign_id = m.campaign_id AND c.member_id = m.member_id
  AND c.day = m.last_day;
