// Starts Swagger UI on /docs from this origin's copy of its bundle (the page has no inline script: see api/headers.py).
window.ui = SwaggerUIBundle({ url: "/openapi.json", dom_id: "#swagger-ui", deepLinking: true });
