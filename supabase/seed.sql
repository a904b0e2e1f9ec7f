-- Development users for local work (`deno task db:reset` loads this file; so does the first
-- `deno task start`, and `supabase db reset`). Mint a token for one of them with
-- `deno task token alice@example.com`; under `supabase start` they sign in with their passwords
-- (alice-password, bob-password, carol-password).
--
-- Each user is stored the way Supabase Auth stores an email sign-up (supabase/auth:
-- internal/models/user.go, internal/api/signup.go): the all-zero instance id, aud and role
-- `authenticated`, a confirmed email, a bcrypt password, empty strings (never NULL) in the token
-- columns Auth reads into Go strings, and one `email` identity whose provider_id is the user id.
with seed (id, email, password, name) as (
  values
    ('a11ce000-0000-4000-8000-000000000001'::uuid, 'alice@example.com', 'alice-password', 'Alice'),
    ('b0b00000-0000-4000-8000-000000000002'::uuid, 'bob@example.com', 'bob-password', 'Bob'),
    ('ca401000-0000-4000-8000-000000000003'::uuid, 'carol@example.com', 'carol-password', 'Carol')
),
users as (
  insert into auth.users (
    instance_id, id, aud, role, email, encrypted_password, email_confirmed_at,
    confirmation_token, recovery_token, email_change_token_new, email_change,
    email_change_token_current, phone_change, phone_change_token, reauthentication_token,
    raw_app_meta_data, raw_user_meta_data, created_at, updated_at
  )
  select
    '00000000-0000-0000-0000-000000000000', id, 'authenticated', 'authenticated', email,
    extensions.crypt(password, extensions.gen_salt('bf')), now(),
    '', '', '', '', '', '', '', '',
    '{"provider":"email","providers":["email"]}',
    jsonb_build_object('name', name, 'email_verified', true), now(), now()
  from seed
  on conflict (id) do nothing
  returning id, email
)
insert into auth.identities (
  provider_id, user_id, identity_data, provider, last_sign_in_at, created_at, updated_at
)
select
  id::text, id,
  jsonb_build_object(
    'sub', id::text, 'email', email, 'email_verified', true, 'phone_verified', false
  ),
  'email', now(), now(), now()
from users
on conflict (provider_id, provider) do nothing;
