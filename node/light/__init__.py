"""The light client: follows a chain from its genesis file by finality certificates alone, with
what it verified kept in its home (`gridchain light ...`)."""
