-- Every stored event's source is one the API can show.
--
-- `shequn demo` wrote `source = 'demo'`, which the API's `EventSource` does
-- not know: in every demo workspace `GET /v1/events` and each member's
-- timeline answered 500. The demo now writes `import` (it is a bulk load);
-- rows written before are repaired here, and the check keeps any future
-- writer (COPY included) from storing a source no reader accepts.
UPDATE events SET source = 'import'
 WHERE source NOT IN ('api', 'wecom', 'telegram', 'slack', 'feishu', 'generic', 'import');

ALTER TABLE events ADD CONSTRAINT events_source_known
    CHECK (source IN ('api', 'wecom', 'telegram', 'slack', 'feishu', 'generic', 'import'));
