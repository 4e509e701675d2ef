// The interactive API page: Swagger UI (served from our own static files) over /api/schema/. Calls made from
// it carry the session's CSRF token, so a signed-in user's writes work as from the dashboard.
(function () {
  const root = document.getElementById("swagger-ui");
  const csrf = () => (document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/) || [])[1];
  window.SwaggerUIBundle({
    url: root.dataset.schemaUrl,
    domNode: root,
    deepLinking: true,
    defaultModelsExpandDepth: 0,
    requestInterceptor: (request) => {
      const token = csrf();
      if (token && request.method && request.method !== "GET") request.headers["X-CSRFToken"] = token;
      return request;
    },
  });
})();
