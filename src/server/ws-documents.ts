import { parse, specifiedRules, validate, type DocumentNode, type GraphQLSchema, type ValidationRule } from 'graphql';
import { LRUCache } from 'lru-cache';
import { QueryTooComplexError } from '../errors.js';
import { repetitionProblem } from './query-limits.js';

/** Documents longer than this are parsed for their operation alone and not kept. */
const MAX_CACHED_LENGTH = 10_000;

/**
 * Parsing and validation for operations over WebSocket, with the same limits as over HTTP
 * (the parser's token cap and the abuse rules), and a cache of parsed, validated documents
 * by their text. Monitors send the same subscription document over and over: sharing one
 * AST saves the parse and validation of each subscribe, and about a third of the heap an
 * idle subscriber would otherwise keep (its own copy of the tokens and locations).
 * Documents are never mutated by graphql-js, so sharing them is safe.
 */
export function documentCache(options: { maxTokens: number; maxCost: number; rules: readonly ValidationRule[]; max?: number }) {
  const documents = new LRUCache<string, DocumentNode>({ max: options.max ?? 500 });
  const valid = new WeakSet<DocumentNode>();
  const rules = [...specifiedRules, ...options.rules];
  return {
    parse(source: string): DocumentNode {
      const cached = documents.get(source);
      if (cached) return cached;
      const document = parse(source, { maxTokens: options.maxTokens });
      if (source.length <= MAX_CACHED_LENGTH) documents.set(source, document);
      return document;
    },
    validate(schema: GraphQLSchema, document: DocumentNode) {
      if (valid.has(document)) return [];
      const repeated = repetitionProblem(document, options.maxCost);
      if (repeated) return [new QueryTooComplexError(repeated)];
      const errors = validate(schema, document, rules);
      if (errors.length === 0) valid.add(document);
      return errors;
    },
  };
}
