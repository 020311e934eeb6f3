"""License knowledge base: data files read by seewhy.analyzers.license.kb."""
