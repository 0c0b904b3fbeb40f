-- Engagement sunset (issue #19): "5/90" leaves out of marketing the
-- contacts sent 5 marketing mails in the last 90 days who opened and
-- clicked none of them. NULL: off.
ALTER TABLE workspaces ADD COLUMN sunset TEXT;
