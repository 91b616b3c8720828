"""``distillguard ingest``: gateway logs (OpenAI-compatible request logs, nginx and Envoy JSON access logs,
LiteLLM spend logs, or any JSON log through a mapping file) converted to ``api-event/v1`` JSON lines.

Pure core: one small adapter per format (``openai``, ``access_log``, ``litellm``, ``mapping``), the table of
formats (``formats.FORMATS``), and the loop that counts every dropped line by its reason (``pipeline``).
"""
