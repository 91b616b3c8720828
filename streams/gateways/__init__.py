"""Gateway integrations: each turns the completed requests of an API gateway that customers already run into
``api-event/v1`` events on the input topic (``litellm``: a LiteLLM proxy callback)."""
