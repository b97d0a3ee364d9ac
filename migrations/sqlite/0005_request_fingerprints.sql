-- What each answered request asked, as a fingerprint: a repeat of its key that asks
-- something else is refused instead of being answered with the first answer. NULL for
-- answers stored before fingerprints were kept: those keep replaying as they did.
ALTER TABLE responses ADD COLUMN fingerprint TEXT;

-- The same for the request that made each lock.
ALTER TABLE locks ADD COLUMN request_fingerprint TEXT;
