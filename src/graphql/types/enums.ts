import { registerEnumType } from 'type-graphql';

export enum ApiKeyType {
  SECRET = 'SECRET',
  PUBLIC = 'PUBLIC',
  TOKENIZATION = 'TOKENIZATION',
}
export enum KeyEnvironment {
  LIVE = 'LIVE',
  TEST = 'TEST',
}
export enum ApiKeyStatus {
  ACTIVE = 'ACTIVE',
  DISABLED = 'DISABLED',
  REVOKED = 'REVOKED',
}

registerEnumType(ApiKeyType, { name: 'ApiKeyType', description: 'SECRET keys stay on servers; PUBLIC and TOKENIZATION keys may sit in client code.' });
registerEnumType(KeyEnvironment, { name: 'KeyEnvironment' });
registerEnumType(ApiKeyStatus, { name: 'ApiKeyStatus', description: 'DISABLED can return to ACTIVE; REVOKED is final.' });
