-- Refused requests are pruned by age (rejections_retention).
CREATE INDEX rejections_at ON rejections (at);
