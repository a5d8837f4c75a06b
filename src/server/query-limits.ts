import { ApolloArmor } from '@escape.tech/graphql-armor';
import { GraphQLError, Kind, Lexer, parse, Source, TokenKind, type DocumentNode, type SelectionSetNode, type ValidationContext } from 'graphql';
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

/**
 * Repeated selections, counted toward the cost limit before validation runs. graphql-js's
 * OverlappingFieldsCanBeMerged rule compares every pair of selections that share a response
 * name (or spread the same fragment) in one selection set, so 220 copies of
 * `viewer { keyId key { id } }` (well under the token cap) cost it about 24,000 comparisons
 * and a quarter of a second. Armor's cost counts each copy once; here each such pair counts
 * one more, and a document whose pairs pass `maxCost` is refused without being validated.
 * One walk over the document: linear in its size.
 */
export function repetitionProblem(document: DocumentNode, maxCost: number): string | null {
  let pairs = 0;
  const visit = (set: SelectionSetNode): void => {
    const seen = new Map<string, number>();
    const collect = (inner: SelectionSetNode): void => {
      for (const selection of inner.selections) {
        if (selection.kind === Kind.INLINE_FRAGMENT) {
          // Compared as if written in the enclosing set, as the overlap rule does.
          collect(selection.selectionSet);
          continue;
        }
        const name = selection.kind === Kind.FIELD ? (selection.alias ?? selection.name).value : `...${selection.name.value}`;
        const count = seen.get(name) ?? 0;
        pairs += count;
        seen.set(name, count + 1);
        if (selection.kind === Kind.FIELD && selection.selectionSet) visit(selection.selectionSet);
      }
    };
    collect(set);
  };
  for (const definition of document.definitions) {
    if (definition.kind === Kind.OPERATION_DEFINITION || definition.kind === Kind.FRAGMENT_DEFINITION) visit(definition.selectionSet);
  }
  return pairs > maxCost ? `Query Cost limit of ${maxCost} exceeded: ${pairs} pairs of repeated selections.` : null;
}

/** Documents shorter than this cannot hold enough repeats to matter, and skip the early parse. */
const REPETITION_CHECK_MIN_LENGTH = 1_000;

/**
 * Refuses, before Apollo parses and validates it, a request whose document has too many
 * repeated selections (QUERY_TOO_COMPLEX, 400). Apollo offers no hook between parsing and
 * validation that can answer with a coded error (a plugin that throws there is answered as
 * a 500), so long documents are parsed here once more (bounded by the token cap); short
 * ones, the hot path's, are not touched. A document that does not parse is Apollo's to refuse.
 */
export function refuseRepetition(body: unknown, config: Pick<Config, 'maxTokens' | 'maxQueryCost'>): void {
  for (const request of Array.isArray(body) ? body : [body]) {
    const query = (request as { query?: unknown } | null)?.query;
    if (typeof query !== 'string' || query.length < REPETITION_CHECK_MIN_LENGTH) continue;
    let document: DocumentNode;
    try {
      document = parse(query, { maxTokens: config.maxTokens, noLocation: true });
    } catch {
      continue;
    }
    const problem = repetitionProblem(document, config.maxQueryCost);
    if (problem) throw new QueryTooComplexError(problem);
  }
}
