"""Review cases: status workflow, assignment, comments and per-account decisions."""
