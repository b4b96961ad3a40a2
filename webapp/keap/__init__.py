"""Everything that speaks Keap's wire protocol. Nothing outside this package opens a connection to Keap."""
