//! `exemplar collect`: the reference collector alone, until Ctrl-C.

use super::Error;
use crate::collector::{self, CollectorOptions, Listen};

pub fn run(listen: &Listen, opts: &CollectorOptions) -> Result<(), Error> {
    let db = opts.open_db()?;
    let stored = db.count();
    let path = collector::display_name(&opts.db);
    let reading = if opts.admin_token.is_some() {
        "records are readable at /admin/records with the admin token"
    } else {
        "no --admin-token: records are not readable over HTTP"
    };
    let app = collector::router(db, opts, &listen.limits);
    collector::serve_forever(app, listen, |addr| {
        println!("exemplar: collecting at http://{addr}/records into {path} ({stored} already stored); {reading}");
    })?;
    Ok(())
}
