"""The ledger: transactions and their multisig policies, executing them (receipts, contracts),
and the audit log their events make."""
