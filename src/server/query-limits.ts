import { ApolloArmor } from '@escape.tech/graphql-armor';
import type { ApolloServerPlugin } from '@apollo/server';
import { GraphQLError, Lexer, Source, TokenKind, type ValidationContext } from 'graphql';
import type { Config } from '../config.js';
import { ErrorCode, QueryTooComplexError } from '../errors.js';
import type { GraphQLContext } from '../graphql/context.js';

/** Armor's rejections, reported as QUERY_TOO_COMPLEX by each rule itself rather than recognised later by their wording. */
const refuse = {
  onReject: [
    (context: ValidationContext | null, error: GraphQLError) => {
      // Armor words every refusal as a "Syntax Error"; the document parsed, it is only too big.
      context?.reportError(new QueryTooComplexError(error.message.replace(/^Syntax Error: /, '')));
    },
  ],
  propagateOnRejection: false,
};

/**
 * Abuse limits, refused before execution (graphql-armor): depth, aliases, directives and cost;
 * field suggestions are hidden in production so the schema cannot be guessed from error
 * messages. Tokens are capped by graphql-js's parser (`parseOptions.maxTokens`), see tokenLimitPlugin.
 */
export function armor(config: Config) {
  return new ApolloArmor({
    maxDepth: { n: config.maxQueryDepth, ignoreIntrospection: true, flattenFragments: true, ...refuse },
    maxAliases: { n: config.maxAliases, ...refuse },
    maxDirectives: { n: 20, ...refuse },
    // Its Apollo token plugin parses every document a second time and throws from parsingDidStart
    // (a 500); graphql-js's own parser limit refuses the same documents while parsing them once.
    maxTokens: { enabled: false },
    costLimit: { maxCost: config.maxQueryCost, ignoreIntrospection: true, ...refuse },
    blockFieldSuggestion: { enabled: config.production },
  }).protect();
}

/** True when the document has more than `maxTokens` tokens (counted as graphql-js's parser counts them, up to the limit). */
export function exceedsTokenLimit(source: string, maxTokens: number): boolean {
  const lexer = new Lexer(new Source(source));
  try {
    for (let count = 1; lexer.advance().kind !== TokenKind.EOF; count++) if (count > maxTokens) return true;
  } catch {
    // A lexical error before the limit: a syntax error, not a long document.
  }
  return false;
}

/** A document that did not parse: QUERY_TOO_COMPLEX when the parser stopped at the token cap, else GRAPHQL_PARSE_FAILED. */
export function parseFailure(error: GraphQLError, source: string, maxTokens: number): GraphQLError {
  if (exceedsTokenLimit(source, maxTokens)) return new QueryTooComplexError(`Token limit of ${maxTokens} exceeded.`);
  return new GraphQLError(error.message, { source: error.source, positions: error.positions, extensions: { code: 'GRAPHQL_PARSE_FAILED' } });
}

/**
 * graphql-js's parser stops at `maxTokens` with a plain syntax error; a document refused that
 * way is answered QUERY_TOO_COMPLEX (400). Tokens are counted only when parsing failed.
 */
export function tokenLimitPlugin(maxTokens: number): ApolloServerPlugin<GraphQLContext> {
  return {
    async requestDidStart() {
      return {
        async parsingDidStart({ source, contextValue }) {
          return async (error) => {
            if (!error || !exceedsTokenLimit(source, maxTokens)) return;
            // Thrown, Apollo answers from this error alone (its status and code) and skips the later hooks.
            contextValue.state.outcome = ErrorCode.QUERY_TOO_COMPLEX;
            throw new QueryTooComplexError(`Token limit of ${maxTokens} exceeded.`);
          };
        },
      };
    },
  };
}
