/**
 * The gateway's /docs: Swagger UI (swagger-ui-dist from npm, loaded by the page before this module)
 * over the gateway's own /openapi.json. A page of its own rather than FastAPI's, whose inline script the
 * pages' Content-Security-Policy would refuse.
 */

declare const SwaggerUIBundle: (options: Record<string, unknown>) => unknown;

SwaggerUIBundle({ url: "/openapi.json", dom_id: "#swagger-ui", deepLinking: true });
