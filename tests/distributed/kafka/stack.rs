//! The three roles on MariaDB and tansu, started and stopped by the tests.

use super::*;

pub(crate) struct Stack {
    pub(crate) broker: Broker,
    pub(crate) db: MySqlTestDatabase,
    pub(crate) prefix: String,
    pub(crate) commands: Vec<(Process, String)>,
    pub(crate) projectors: Vec<(Process, String)>,
    pub(crate) queries: Vec<(Process, String)>,
    pub(crate) client: reqwest::Client,
    pub(crate) env: Vec<(&'static str, String)>,
    pub(crate) _data: tempfile::TempDir,
}

impl Stack {
    pub(crate) fn start(
        tansu: PathBuf,
        commands: usize,
        projectors: usize,
        queries: usize,
    ) -> Self {
        Self::start_with(tansu, commands, projectors, queries, Vec::new())
    }

    /// As [`Self::start`], every role with `extra` in its environment too.
    pub(crate) fn start_with(
        tansu: PathBuf,
        commands: usize,
        projectors: usize,
        queries: usize,
        extra: Vec<(&'static str, String)>,
    ) -> Self {
        let broker = Broker::start(tansu);
        let db = MySqlTestDatabase::new();
        let data = tempfile::tempdir().expect("temp dir");
        let mut env = broker.role_env(db.url(), SECRET, (ADMIN_EMAIL, ADMIN_PASSWORD));
        env.extend(extra);
        let prefix = env
            .iter()
            .find(|(k, _)| *k == "MOVIEDB_KAFKA_TOPIC_PREFIX")
            .map(|(_, v)| v.clone())
            .expect("a topic prefix");
        // The first command API creates the schema and the admin; the others start after it.
        let mut stack = Self {
            broker,
            db,
            prefix,
            commands: Vec::new(),
            projectors: Vec::new(),
            queries: Vec::new(),
            client: reqwest::Client::new(),
            env,
            _data: data,
        };
        let data = stack._data.path().to_owned();
        let env = stack.env.clone();
        for _ in 0..commands {
            let p = role("command-api", &env, &data);
            let a = p.address();
            stack.commands.push((p, a));
        }
        for _ in 0..projectors {
            let p = role("projector", &env, &data);
            let a = p.address();
            stack.projectors.push((p, a));
        }
        for _ in 0..queries {
            let p = role("query-api", &env, &data);
            let a = p.address();
            stack.queries.push((p, a));
        }
        stack
    }

    /// Kills projector `n` with SIGKILL and starts another in its place `after` that.
    pub(crate) async fn kill_and_replace_projector(&mut self, n: usize, after: Duration) {
        let (mut old, _) = self.projectors.remove(n);
        old.child.kill().expect("SIGKILL");
        old.child.wait().expect("reaped");
        tokio::time::sleep(after).await;
        let p = role("projector", &self.env, self._data.path());
        let a = p.address();
        self.projectors.insert(n, (p, a));
    }

    pub(crate) fn command(&self, n: usize) -> &str {
        &self.commands[n % self.commands.len()].1
    }

    pub(crate) fn query(&self, n: usize) -> &str {
        &self.queries[n % self.queries.len()].1
    }

    pub(crate) async fn send(
        &self,
        method: reqwest::Method,
        url: String,
        token: Option<&str>,
        body: Option<Value>,
        consistency: Option<&str>,
    ) -> reqwest::Response {
        let mut request = self.client.request(method, url);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        if let Some(c) = consistency {
            request = request.header("consistency-token", c);
        }
        request.send().await.expect("request sent")
    }

    pub(crate) async fn token(&self, email: &str, password: &str) -> String {
        let response = self
            .send(
                reqwest::Method::POST,
                format!("{}/api/login_user/", self.command(0)),
                None,
                Some(json!({ "email": email, "password": password })),
                None,
            )
            .await;
        assert_eq!(response.status(), 201);
        let body: Value = response.json().await.expect("json");
        body["token"].as_str().expect("token").to_owned()
    }

    /// Reads `path` from a query API with `consistency`, retrying 503s (a broker restart can
    /// take longer than one wait).
    pub(crate) async fn read(
        &self,
        n: usize,
        path: &str,
        token: Option<&str>,
        consistency: &str,
    ) -> (u16, Value) {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let response = self
                .send(
                    reqwest::Method::GET,
                    format!("{}{path}", self.query(n)),
                    token,
                    None,
                    Some(consistency),
                )
                .await;
            let status = response.status().as_u16();
            if status != 503 || Instant::now() > deadline {
                let body = if status == 304 {
                    Value::Null
                } else {
                    response.json().await.unwrap_or(Value::Null)
                };
                return (status, body);
            }
        }
    }

    /// A projector's counter from `/metrics`.
    pub(crate) async fn metric(&self, name: &str) -> u64 {
        let mut total = 0;
        for (_, address) in &self.projectors {
            let text = self
                .client
                .get(format!("{address}/metrics"))
                .send()
                .await
                .expect("metrics")
                .text()
                .await
                .expect("text");
            total += text
                .lines()
                .find_map(|l| l.strip_prefix(&format!("{name} ")))
                .and_then(|v| v.trim().parse::<u64>().ok())
                .unwrap_or(0);
        }
        total
    }
}

pub(crate) fn consistency(response: &reqwest::Response) -> String {
    response
        .headers()
        .get("consistency-token")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}
