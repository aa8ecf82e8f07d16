// Starts Swagger UI on /docs (a file of its own: the pages' CSP allows no inline script).
window.addEventListener("load", function () {
  window.ui = SwaggerUIBundle({
    url: "/openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: false, // its links sit inside the operations' buttons (a control inside a control)
    validatorUrl: null, // the public validator badge would call a foreign host
  });
});
