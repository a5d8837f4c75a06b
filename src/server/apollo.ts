import { AsyncLocalStorage } from 'node:async_hooks';
import { ApolloServer, type ApolloServerPlugin, type GraphQLRequestListener } from '@apollo/server';
import { ApolloServerPluginCacheControlDisabled } from '@apollo/server/plugin/disabled';
import { ApolloServerPluginLandingPageProductionDefault } from '@apollo/server/plugin/landingPage/default';
import { Kind, type DocumentNode, type GraphQLSchema, type OperationDefinitionNode } from 'graphql';
import { authFailedEvent } from '../auth/auth-failed.js';
import type { Config } from '../config.js';
import { formatError, UnauthenticatedError } from '../errors.js';
import type { GraphQLContext } from '../graphql/context.js';
import { jitGateway } from '../graphql/jit-executor.js';
import type { Logger } from '../logger.js';
import { markInternalErrorStatus } from './internal-error-status.js';
import { chargeRootFields } from './root-field-cost.js';
import { armor, tokenLimitMessage } from './query-limits.js';
import { operationLabel, rootFields } from './operation-label.js';
import { sandboxLandingPage } from './sandbox.js';

/** What each request carries through async calls: its id and its logger. */
export interface RequestScope {
  requestId: string;
  logger: Logger;
}
export const requestScope = new AsyncLocalStorage<RequestScope>();

const INTROSPECTION_FIELDS = new Set(['__schema', '__type', '__typename']);

/** True when every root field of the query (through fragments) is an introspection field. */
export function isIntrospectionOnly(document: DocumentNode, operation: OperationDefinitionNode): boolean {
  if (operation.operation !== 'query') return false;
  const { names, unresolved } = rootFields(document, operation);
  return !unresolved && [...names].every((name) => INTROSPECTION_FIELDS.has(name));
}

/**
 * keyring's per-request hooks in one plugin (each plugin costs Apollo a `requestDidStart` and
 * a promise per hook per request), with one listener object shared by every request (the
 * hooks keep their state in the context):
 * - names the operation and its first root field for the log line and metrics, and the outcome;
 * - authentication: requests without a key may only introspect (so Sandbox can load the
 *   schema); anything else is 401, and recorded as a refused credential;
 * - each root field beyond the first counts against the key (root-field-cost.ts);
 * - a response holding an unexpected failure answers 500 (internal-error-status.ts).
 */
function requestPlugin(config: Config): ApolloServerPlugin<GraphQLContext> {
  const listener: GraphQLRequestListener<GraphQLContext> = {
    async didResolveOperation(requestContext) {
      const { contextValue, document, operation, operationName } = requestContext;
      if (!operation) return;
      contextValue.state.operationName = operationLabel(operation, operationName);
      const first = operation.selectionSet.selections[0];
      contextValue.state.rootField = first?.kind === Kind.FIELD ? first.name.value : null;
      if (!contextValue.principal) {
        if (config.introspection && isIntrospectionOnly(document, operation)) return;
        const { requestId, ip, state } = contextValue;
        contextValue.services.ledger.append(authFailedEvent('MISSING', {}, { requestId, ip, operationName: state.operationName }));
        throw new UnauthenticatedError();
      }
      await chargeRootFields(requestContext);
    },
    async willSendResponse({ contextValue, response }) {
      const errors = response.body.kind === 'single' ? response.body.singleResult.errors : undefined;
      contextValue.state.outcome = (errors?.[0]?.extensions?.code as string | undefined) ?? 'OK';
      markInternalErrorStatus(response);
    },
  };
  return { requestDidStart: async () => listener };
}

export function createApollo(schema: GraphQLSchema, config: Config, logger: Logger, extraPlugins: ApolloServerPlugin<GraphQLContext>[] = []) {
  const development = config.nodeEnv === 'development';
  const protection = armor(config);
  return new ApolloServer<GraphQLContext>({
    // graphql-js's execute for every operation, but keyUsage's compiled (jit-executor.ts).
    gateway: jitGateway(schema),
    validationRules: protection.validationRules,
    parseOptions: { maxTokens: config.maxTokens },
    introspection: config.introspection,
    // Keys travel in headers, never cookies: a CSRF preflight guard buys nothing, and GET must work plainly.
    csrfPrevention: false,
    allowBatchedHttpRequests: config.batchRequests,
    includeStacktraceInErrorResponses: development,
    hideSchemaDetailsFromClientErrors: config.production,
    logger: {
      debug: (m) => logger.debug(m),
      info: (m) => logger.info(m),
      warn: (m) => logger.warn(m),
      error: (m) => logger.error(m),
    },
    formatError: (formatted, error) => {
      const scope = requestScope.getStore();
      return formatError(formatted, error, {
        requestId: scope?.requestId,
        development,
        tooManyTokens: (source) => tokenLimitMessage(source, config.maxTokens),
        onInternal: (err) => (scope?.logger ?? logger).error({ err, requestId: scope?.requestId }, 'unexpected error'),
      });
    },
    plugins: [
      ...(protection.plugins as ApolloServerPlugin<GraphQLContext>[]),
      requestPlugin(config),
      // Every answer is the calling key's own and carries its limit figures: nothing is cacheable,
      // so the per-field cache hints Apollo would compute on every request are switched off.
      ApolloServerPluginCacheControlDisabled(),
      config.production
        ? ApolloServerPluginLandingPageProductionDefault({ footer: false })
        : sandboxLandingPage({ console: config.console }),
      ...extraPlugins,
    ],
  });
}
