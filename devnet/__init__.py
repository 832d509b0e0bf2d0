"""A local development network: `gridchain devnet up|down|status`."""
