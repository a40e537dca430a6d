"""attnflow's web service: a FastAPI app around the model package."""
