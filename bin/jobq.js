#!/usr/bin/env node
// The published bin: registers tsx so the TypeScript sources run as they are, with no build step.
import { register } from 'tsx/esm/api';

register();
await import('../src/cli.ts');
