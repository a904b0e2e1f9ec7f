-- Development users for local work (`deno task db:reset` loads this file; so does the first
-- `deno task start`). Mint a token for one of them with `deno task token alice@example.com`.
insert into auth.users (
  instance_id, id, aud, role, email, encrypted_password, email_confirmed_at,
  raw_app_meta_data, raw_user_meta_data, created_at, updated_at
) values
  ('00000000-0000-0000-0000-000000000000', 'a11ce000-0000-4000-8000-000000000001',
   'authenticated', 'authenticated', 'alice@example.com',
   extensions.crypt('alice-password', extensions.gen_salt('bf')), now(),
   '{"provider":"email","providers":["email"]}', '{"name":"Alice"}', now(), now()),
  ('00000000-0000-0000-0000-000000000000', 'b0b00000-0000-4000-8000-000000000002',
   'authenticated', 'authenticated', 'bob@example.com',
   extensions.crypt('bob-password', extensions.gen_salt('bf')), now(),
   '{"provider":"email","providers":["email"]}', '{"name":"Bob"}', now(), now()),
  ('00000000-0000-0000-0000-000000000000', 'ca401000-0000-4000-8000-000000000003',
   'authenticated', 'authenticated', 'carol@example.com',
   extensions.crypt('carol-password', extensions.gen_salt('bf')), now(),
   '{"provider":"email","providers":["email"]}', '{"name":"Carol"}', now(), now())
on conflict (id) do nothing;
