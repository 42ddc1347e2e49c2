-- Reserved: migration 0011 is the queue policies' (issue #17, items 1-2), written on another branch.
-- This placeholder only keeps the numbering continuous for 0012 on this branch; the merge replaces it
-- with the real 0011. It changes nothing.
SELECT 1;
