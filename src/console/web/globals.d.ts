// graphql-ws's browser build (/console/graphql-ws.min.js) defines window.graphqlWs.
import type { createClient } from 'graphql-ws';

declare global {
  interface Window {
    graphqlWs: { createClient: typeof createClient };
  }
}
