import { ApolloArmor } from '@escape.tech/graphql-armor';
import { GraphQLError, Lexer, Source, TokenKind, type ValidationContext } from 'graphql';
import type { Config } from '../config.js';
import { QueryTooComplexError } from '../errors.js';

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
 * messages. Tokens are capped by graphql-js's parser (`parseOptions.maxTokens`), see tokenLimitMessage.
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
function exceedsTokenLimit(source: string, maxTokens: number): boolean {
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
  const tooLong = tokenLimitMessage(source, maxTokens);
  if (tooLong) return new QueryTooComplexError(tooLong);
  return new GraphQLError(error.message, { source: error.source, positions: error.positions, extensions: { code: 'GRAPHQL_PARSE_FAILED' } });
}

/**
 * The refusal for a document that did not parse because it passed the token cap (graphql-js's
 * parser then says only "Syntax Error"), null for any other parse failure. Used by formatError
 * for Apollo's parse failures and by parseFailure over WebSocket.
 */
export function tokenLimitMessage(source: string, maxTokens: number): string | null {
  return exceedsTokenLimit(source, maxTokens) ? `Token limit of ${maxTokens} exceeded.` : null;
}
