/**
 * The door to `actors/broker-auth/`: broker identities and ACLs (docs/ARCHITECTURE.md §7.1). One rule
 * table (rules.ts) renders to Mosquitto's acl_file and password_file (acl-file.ts) and drives the
 * embedded broker's hooks (authorizer.ts); passwords are hashed in Mosquitto's `$7$` format.
 */
export {
  hashPassword,
  isPasswordHash,
  newBrokerPassword,
  parsePasswordHash,
  PASSWORD_ITERATIONS,
  PasswordHashError,
  verifyPassword,
} from './password-hash.ts';
export { deviceUsername, hubUsername, isHubUsername, PrincipalError, usernameOf, type Principal } from './principal.ts';
export { ACL_RULES, type Access, type AclRule, type Audience } from './rules.ts';
export { BrokerFilesError, renderAclFile, renderPasswordFile, rulesFor, type BrokerUser } from './acl-file.ts';
export { BrokerAuthorizer } from './authorizer.ts';
