/** Asks for an API key when the server answered 401; the key is kept in sessionStorage (api.ts). */
import { useState } from 'preact/hooks';
import { auth } from '../api.ts';

export function KeyForm({ refused }: { refused: boolean }) {
  const [value, setValue] = useState('');
  return (
    <section class="panel key-form" aria-labelledby="key-h">
      <h1 id="key-h">API key needed</h1>
      {refused ? (
        <p class="error" role="alert">The server refused that key (401 unauthorized). Check it and try again.</p>
      ) : (
        <p>This jobq is protected by API keys. Type a key with the read scope (admin to cancel, retry, pause and resume); it is kept for this tab only.</p>
      )}
      <form onSubmit={(e) => { e.preventDefault(); if (value.trim()) auth.set(value.trim()); }}>
        <label for="api-key">API key</label>
        <input id="api-key" name="api-key" type="password" autoComplete="off" required value={value} onInput={(e) => setValue(e.currentTarget.value)} autoFocus />
        <button type="submit" class="primary">Use this key</button>
      </form>
    </section>
  );
}
