"""Every rule in the bundled lists blocks its table URL, and the vendors' other services stay reachable.

The tables are data: (url, the rule that must block it). A test fails when a rule line in filters/*.txt has no
URL here, so a new rule cannot land untested. Generic email rules carry ``$image`` (the same paths are click
links), so the email table is checked as images; the ads table with the type guessed from the URL.
Facts (endpoints) come from the vendors' docs, EasyPrivacy and MailTrackerBlocker's trackers.json (BSD-3-Clause).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from pixelguard.config import bundled_filters_dir
from pixelguard.engine import Engine
from pixelguard.engine.rules import validate

FILTERS = bundled_filters_dir()
BUNDLED = ("pixelguard-ads", "pixelguard-email")

ADS_BLOCKED = [
    ("https://www.facebook.com/tr?id=123456789&ev=PageView&noscript=1", "||facebook.com/tr^"),
    ("https://www.facebook.com/tr/?id=1&ev=Purchase", "||facebook.com/tr^"),
    ("https://connect.facebook.net/en_US/fbevents.js", "||connect.facebook.net^*/fbevents.js"),
    (
        "https://connect.facebook.net/signals/config/123456789?v=2.9.1",
        "||connect.facebook.net/signals/config/",
    ),
    ("https://px.ads.linkedin.com/collect/?pid=123&fmt=gif", "||px.ads.linkedin.com^"),
    ("https://px.ads.linkedin.com/wa/", "||px.ads.linkedin.com^"),
    ("https://snap.licdn.com/li.lms-analytics/insight.min.js", "||snap.licdn.com/li.lms-analytics/"),
    ("https://www.linkedin.com/px/li_sync?redirect=x", "||linkedin.com/px/"),
    (
        "https://www.googleadservices.com/pagead/conversion/123456/?label=abc&guid=ON",
        "||googleadservices.com/pagead/conversion",
    ),
    (
        "https://www.googleadservices.com/pagead/conversion_async.js",
        "||googleadservices.com/pagead/conversion",
    ),
    (
        "https://googleads.g.doubleclick.net/pagead/viewthroughconversion/123456/?random=1&cv=9",
        "||googleads.g.doubleclick.net/pagead/viewthroughconversion/",
    ),
    ("https://www.google.com/pagead/1p-user-list/123456/?random=1", "/pagead/1p-user-list/"),
    ("https://www.google.de/pagead/1p-user-list/123456/?random=1", "/pagead/1p-user-list/"),
    ("https://www.google.com/pagead/1p-conversion/123456/?random=1", "/pagead/1p-conversion/"),
    (
        "https://ad.doubleclick.net/activity;src=123;type=sales;cat=buy;ord=1?",
        "||ad.doubleclick.net/activity;",
    ),
    (
        "https://123.fls.doubleclick.net/activityi;src=123;type=a;cat=b;ord=1?",
        "||fls.doubleclick.net/activityi;",
    ),
    ("https://www.google-analytics.com/collect?v=1&tid=UA-1-1&t=pageview", "||google-analytics.com/collect"),
    (
        "https://region1.google-analytics.com/g/collect?v=2&tid=G-ABC123&en=page_view",
        "||google-analytics.com/g/collect",
    ),
    ("https://www.google-analytics.com/j/collect?v=1&_v=j101&t=pageview", "||google-analytics.com/j/collect"),
    ("https://www.google-analytics.com/r/collect?v=1&t=pageview", "||google-analytics.com/r/collect"),
    ("https://www.google-analytics.com/__utm.gif?utmwv=5.7.2", "||google-analytics.com/__utm.gif"),
    ("https://analytics.google.com/g/collect?v=2&tid=G-ABC123", "||analytics.google.com/g/collect"),
    ("https://stats.g.doubleclick.net/g/collect?v=2&tid=G-ABC123", "||stats.g.doubleclick.net/g/collect"),
    ("https://stats.g.doubleclick.net/j/collect?t=dc&aip=1", "||stats.g.doubleclick.net/j/collect"),
    ("https://t.co/i/adsct?txn_id=abc&p_id=Twitter", "||t.co/i/adsct"),
    ("https://t.co/1/i/adsct?txn_id=abc", "||t.co/1/i/adsct"),
    ("https://analytics.twitter.com/i/adsct?txn_id=abc&p_id=Twitter", "||analytics.twitter.com/i/adsct"),
    ("https://analytics.twitter.com/1/i/adsct?txn_id=abc", "||analytics.twitter.com/1/i/adsct"),
    ("https://static.ads-twitter.com/uwt.js", "||static.ads-twitter.com/uwt.js"),
    ("https://static.ads-twitter.com/oct.js", "||static.ads-twitter.com/oct.js"),
    ("https://ct.pinterest.com/v3/?event=init&tid=123&noscript=1", "||ct.pinterest.com/v3/"),
    ("https://ct.pinterest.com/user/?tid=123&pd=x", "||ct.pinterest.com/user/"),
    ("https://s.pinimg.com/ct/core.js", "||s.pinimg.com/ct/core.js"),
    ("https://s.pinimg.com/ct/lib/main.1234abcd.js", "||s.pinimg.com/ct/lib/"),
    ("https://analytics.tiktok.com/i18n/pixel/events.js?sdkid=ABC", "||analytics.tiktok.com^"),
    ("https://analytics.tiktok.com/api/v2/pixel?sdkid=ABC", "||analytics.tiktok.com^"),
    ("https://tr.snapchat.com/p", "||tr.snapchat.com^"),
    ("https://tr.snapchat.com/cm/i?pid=abc", "||tr.snapchat.com^"),
    ("https://sc-static.net/scevent.min.js", "||sc-static.net/scevent.min.js"),
    ("https://bat.bing.com/action/0?ti=123&Ver=2&evt=pageLoad", "||bat.bing.com/action/"),
    ("https://bat.bing.com/p/action/123.js", "||bat.bing.com/p/action/"),
    ("https://bat.bing.com/bat.js", "||bat.bing.com/bat.js"),
    ("https://alb.reddit.com/rp.gif?ts=1&id=t2_abc&event=PageVisit", "||alb.reddit.com/rp.gif"),
    ("https://pixel-config.reddit.com/pixels/t2_abc/config", "||pixel-config.reddit.com^"),
    ("https://www.redditstatic.com/ads/pixel.js", "||redditstatic.com/ads/pixel.js"),
    ("https://q.quora.com/_/ad/abc123/pixel?tag=ViewContent&noscript=1", "||q.quora.com/_/ad/"),
    ("https://a.quora.com/qevents.js", "||a.quora.com/qevents.js"),
    ("https://s.amazon-adsystem.com/iu3?pid=abc&event=PageView", "||amazon-adsystem.com/iu3?"),
    ("https://s.amazon-adsystem.com/iui3?d=forester-did&ex-fargs=x", "||amazon-adsystem.com/iui3?"),
    ("https://c.amazon-adsystem.com/aat/amzn.js", "||c.amazon-adsystem.com/aat/amzn.js"),
    ("https://static.criteo.net/js/ld/ld.js", "||static.criteo.net/js/ld/ld.js"),
    ("https://sslwidget.criteo.com/event?a=123&v=5.6.0", "||sslwidget.criteo.com/event"),
    ("https://widget.criteo.com/event?a=123", "||widget.criteo.com/event"),
    ("https://dis.criteo.com/dis/rtb/appnexus/cookiematch.aspx", "||dis.criteo.com^"),
    ("https://gum.criteo.com/sync?c=1&r=2", "||gum.criteo.com^"),
    ("https://tr.outbrain.com/pixel?marketerId=abc&name=PAGE_VIEW", "||tr.outbrain.com/pixel"),
    ("https://amplify.outbrain.com/cp/obtp.js", "||amplify.outbrain.com/cp/obtp.js"),
    ("https://cdn.taboola.com/libtrc/unip/123456/tfa.js", "||cdn.taboola.com/libtrc/unip/"),
    ("https://trc.taboola.com/123456/log/3/unip?en=page_view", "||trc.taboola.com^*/log/3/unip?"),
    ("https://sp.analytics.yahoo.com/sp.pl?a=1000&.yp=123", "||sp.analytics.yahoo.com/sp.pl"),
    ("https://s.yimg.com/wi/ytc.js", "||s.yimg.com/wi/ytc.js"),
]
ADS_ALLOWED = [
    "https://www.facebook.com/",
    "https://www.facebook.com/trending/",
    "https://www.facebook.com/groups/python",
    "https://connect.facebook.net/en_US/sdk.js",
    "https://www.linkedin.com/in/someone",
    "https://www.linkedin.com/feed/",
    "https://static.licdn.com/aero-v1/sc/h/logo.svg",
    "https://www.googleadservices.com/pagead/aclk?sa=L&ai=abc&adurl=https://shop.example/",
    "https://www.google.com/search?q=tracking+pixel",
    "https://www.google.com/maps",
    "https://www.google-analytics.com/analytics.js",
    "https://analytics.google.com/analytics/web/",
    "https://www.googletagmanager.com/gtag/js?id=G-ABC123",
    "https://t.co/AbCdEf123",
    "https://twitter.com/home",
    "https://x.com/python",
    "https://www.pinterest.com/pin/123456/",
    "https://i.pinimg.com/originals/ab/cd/ef.jpg",
    "https://www.tiktok.com/@someone",
    "https://www.snapchat.com/",
    "https://www.bing.com/search?q=pixel",
    "https://www.reddit.com/r/python/",
    "https://www.redditstatic.com/shreddit/assets/favicon/64x64.png",
    "https://www.quora.com/What-is-a-tracking-pixel",
    "https://www.amazon.com/dp/B000000000",
    "https://m.media-amazon.com/images/I/abc.jpg",
    "https://www.criteo.com/",
    "https://www.outbrain.com/",
    "https://cdn.taboola.com/libtrc/publisher/loader.js",
    "https://www.yahoo.com/",
]
EMAIL_BLOCKED = [
    (
        "https://news.us3.list-manage.com/track/open.php?u=0a1b2c&id=3d4e5f&e=6a7b8c",
        "||list-manage.com/track/open.php",
    ),
    ("https://trk.klclick.com/wf/open?upn=8DVaPYyYoG9qGL", "/wf/open?upn="),
    ("https://u1234.ct.sendgrid.net/wf/open?upn=abc", "/wf/open?upn="),
    ("https://email.shop.example/wf/open?upn=xyz", "/wf/open?upn="),
    ("https://u1234.ct.sendgrid.net/ss/o/AbCdEf/3sg/n1.gif", "||sendgrid.net/ss/o/"),
    ("https://u1234.ct.sendgrid.net/mpss/o/AbCdEf/3sg/n1.gif", "||sendgrid.net/mpss/o/"),
    ("https://trk.klaviyomail.com/o/abc123", "||trk.klaviyomail.com^"),
    ("https://email.mg.shop.example/o/eJwlzEEOgjAQBdCr", "/o/eJ$image"),
    ("https://abcd1234.r.us-east-1.awstrack.me/I0/0100018abc/def==", "||awstrack.me/I0/"),
    ("https://t.hubspotemail.net/e1t/o/5/abc", "||t.hubspotemail.net^$image"),
    ("https://t.hubspotfree.net/e1t/o/5/abc", "||t.hubspotfree.net^$image"),
    ("https://t.sidekickopen06.com/e1t/o/5/abc", "||t.sidekickopen*.com^$image"),
    ("https://t.sigopn01.com/e1t/o/5/abc", "||t.sigopn*.com^$image"),
    ("https://t.signauxdeux.com/e1t/o/5/abc", "||t.signaux*.com^$image"),
    ("https://t.senalcinco.com/e1t/o/5/abc", "||t.senal*.com^$image"),
    ("https://t.signaleuna.com/e1t/o/5/abc", "||t.signale*.com^$image"),
    ("https://t.hsmsdd.com/e1t/o/5/abc", "||t.hsmsdd.com^$image"),
    ("https://d2v9Zz04.na1.hubspotlinks.com/e1t/o/5/f18dQhb0S7ks8dDMPbW2n0x6l2B9gXrN7sKj9", "/e1t/o/$image"),
    ("https://click.e.shop.example.exct.net/open.aspx?ffcb10-abc", "||exct.net/open.aspx"),
    (
        "https://click.e.shop.example/open.aspx?ffcb10-fec710727460-fe2a1c71716503-fe8e1372",
        "/open.aspx?ffcb10-$image",
    ),
    ("https://pixel.inbox.exacttarget.com/pixel.gif?r=abc", "||pixel.inbox.exacttarget.com/pixel.gif"),
    ("https://r.email.shop.example/tr/op/8Va9zm620jliLZ8Ib48PeJjjd", "/tr/op/$image"),
    ("https://abc.sendibt3.com/tr/op/xyz", "/tr/op/$image"),
    ("https://abc.sendibtd.com/track/open/xyz", "||sendibtd.com^$image"),
    ("https://abc.sendibw.com/track/open/xyz", "||sendibw.com/track/"),
    (
        "http://amxe.net/uxz7dfiv-k6h71u6r-o6cz2uk0-1dg5.gif",
        "/^https?:\\/\\/([a-z0-9-]+\\.)?amxe\\.net\\/[a-z0-9]+(-[a-z0-9]+){2,}\\.gif/$image",
    ),
    (
        "https://amxe.net/ab12cd34-ef56gh78-ij90kl12-mn3.gif",
        "/^https?:\\/\\/([a-z0-9-]+\\.)?amxe\\.net\\/[a-z0-9]+(-[a-z0-9]+){2,}\\.gif/$image",
    ),
    ("https://r20.rs6.net/on.jsp?a=1234&r=3&c=abc&d=1&ch=xyz", "||rs6.net/on.jsp"),
    ("https://shop.cmail19.com/t/d-o-abcde-fghij/o.gif", "||cmail19.com/t/$image"),
    ("https://shop.cmail20.com/t/d-o-abcde-fghij/o.gif", "||cmail20.com/t/$image"),
    ("https://shop.createsend1.com/t/d-o-abcde-fghij/o.gif", "||createsend1.com/t/$image"),
    ("https://stats-eu2.crsend.com/stats/mc_121070_14141611_b09ec13a504-ro9gus.gif", "||crsend.com/stats/"),
    ("https://stats.crsend.com/stats/mc_1_2_abc.gif", "||crsend.com/stats/"),
    ("https://newsletter.inxmail.de/d/d.gif?o00y05e000f7bu0ih0000l6y", "/d/d.gif?$image"),
    ("https://servicemails.lidl.de/d/d.gif?o0abc", "/d/d.gif?$image"),
    ("https://newsletter.shop.example/d?o0c3tol00bmx3ed0h0000lgq00000000c5dbh3g052", "/d?o0$image"),
    ("https://newsletter.club.example/open.html?x=a62e&m=zZObcL&mc=n&s=zVyFum2&u=dFaV9", "/open.html?x="),
    ("https://email.mg1.substack.com/o/eJxUkMFu4yAQhp8m3IiAAWMOHHzZ1", "||substack.com/o/$image"),
    ("https://substackcdn.com/open?token=abc", "||substackcdn.com/open?$image"),
    ("https://click.pstmrk.it/open?m=v3_1.abc&r=def", "||pstmrk.it/open"),
    ("https://open.convertkit-mail.com/p9unqonzo5iqumomk5uq", "||open.convertkit-mail.com^"),
    ("https://open.convertkit-mail2.com/p9unqonzo5iqumomk5uq", "||open.convertkit-mail2.com^"),
    ("https://open.convertkit-mail3.com/p9unqonzo5iqumomk5uq", "||open.convertkit-mail3.com^"),
    ("https://open.convertkit-mail4.com/p9unqonzo5iqumomk5uq", "||open.convertkit-mail4.com^"),
    ("https://open.convertkit-mail5.com/p9unqonzo5iqumomk5uq", "||open.convertkit-mail5.com^"),
    ("https://convertkit-mail.com/o/abc123", "||convertkit-mail.com/o/"),
    ("https://epost.shop.example/action/view/100972/7v32nb0l/246?static=1", "/action/view/*?static=$image"),
    (
        "https://epost.shop.example/action/view/100972/7v32nb0l/246/print?static=1",
        "/action/view/*?static=$image",
    ),
    ("https://news.elaine-asp.de/action/view/1/2/3", "||elaine-asp.de/action/view/$image"),
    ("https://news.club.example/lists/ut.php?u=a3415d1d918ccd0639a9a7a2bc2f3198&m=28", "/ut.php?u="),
    (
        "https://news.charity.example/op/13/5812L1QV-4160U6X3-YZHP9A.gif",
        "/\\/op\\/[0-9]+\\/[0-9A-Za-z]+-[0-9A-Za-z]+-[0-9A-Za-z]+\\.gif/$image",
    ),
    ("https://dqmaer86.emltrk.com/v2/dqmaer86?p&d=Vyau4ZI", "||emltrk.com^"),
    ("https://mailtrack.io/trace/mail/abc123.png?u=1", "||mailtrack.io/trace"),
    ("https://mltrk.io/pixel/abc123?rid=def", "||mltrk.io/pixel"),
    ("https://mailfoogae.appspot.com/t?sender=abc&type=zerocontent&guid=def", "||mailfoogae.appspot.com^"),
    ("https://t.yesware.com/t/abc/def/spacer.gif", "||t.yesware.com^$image"),
    ("https://app.yesware.com/t/abc/def.gif", "||app.yesware.com/t/$image"),
    ("https://track.mixmax.com/api/track/v2/abc/def", "||track.mixmax.com^$image"),
    ("https://email.mixmax.com/e/o/abc", "||email.mixmax.com^$image"),
    ("https://app.mixmax.com/api/track/v2/abc", "||mixmax.com/api/track/$image"),
    ("https://r.superhuman.com/abc123.gif", "||r.superhuman.com^$image"),
    ("https://zc1.maillist-manage.com/clicks/abc", "||maillist-manage.com/clicks/$image"),
    ("https://zc1.maillist-manage.eu/clicks/abc", "||maillist-manage.eu/clicks/$image"),
    ("https://t.ionos.com/oms_p/abc123", "||t.ionos.com/oms_p/$image"),
    ("https://trk.365offers.trade/abc123", "||trk.365offers.trade^$image"),
    ("https://mi.pbz.jp/abc123", "||mi.pbz.jp^$image"),
    ("https://mail.sender.example/?sv_cid=abc123", "/?sv_cid=$image"),
    ("https://mail.sender.example/Prod/link-tracker?nl=abc123", "/Prod/link-tracker?nl=$image"),
    ("https://h-cast.jp/mail_open", "||h-cast.jp/mail_open$image"),
    ("https://mail.sender.example/open/log/abc123", "/open/log/$image"),
    ("https://mailing.adac.de/tr/abc123", "||mailing.adac.de/tr/$image"),
    ("https://mail.sender.example/banman.asp?abc123", "/banman.asp?$image"),
    ("https://d.adtriba.com/abc123", "||d.adtriba.com^$image"),
    ("https://agle2.me/open", "||agle2.me/open$image"),
    (
        "https://xml.agoda.com/EmailTracking/api/emailtracking/Open",
        "||xml.agoda.com/EmailTracking/api/emailtracking/Open$image",
    ),
    ("https://email.airmiles.ca/O", "||email.airmiles.ca/O$image"),
    (
        "https://app.aislelabs.com/o/emailv3/emailv3onepixel.jsp",
        "||app.aislelabs.com/o/emailv3/emailv3onepixel.jsp$image",
    ),
    ("https://click.points-mail.com/open", "||click.points-mail.com/open$image"),
    ("https://sjv.io/i/abc123", "||sjv.io/i/$image"),
    ("https://gqco.net/i/abc123", "||gqco.net/i/$image"),
    ("https://ae.mmstat.com/ae.edm.edm_open", "||ae.mmstat.com/ae.edm.edm_open$image"),
    ("https://amc.ana.co.jp/bin/checker", "||amc.ana.co.jp/bin/checker$image"),
    ("https://mail.sender.example/aws-track-email-openx1.gif", "aws-track-email-open$image"),
    ("https://mail.sender.example/gp/forum/email/tracking", "/gp/forum/email/tracking$image"),
    ("https://amazonappservices.com/trk", "||amazonappservices.com/trk$image"),
    ("https://amazonappservices.com/r/abc123", "||amazonappservices.com/r/$image"),
    ("https://awscloud.com/trk", "||awscloud.com/trk$image"),
    ("https://d.turn.com/r/abc123", "||d.turn.com/r/$image"),
    ("https://info.apo.com/op/abc123", "||info.apo.com/op/$image"),
    ("https://apple.com/report/2/its_mail_sf", "||apple.com/report/2/its_mail_sf$image"),
    ("https://apple_email_link/spacer", "||apple_email_link/spacer$image"),
    ("https://appriver.com/e1t/o/abc123", "||appriver.com/e1t/o/$image"),
    ("https://app.asana.com/-/open", "||app.asana.com/-/open$image"),
    (
        "https://app.ashbyhq.com/api/beacon/email-read/abc123",
        "||app.ashbyhq.com/api/beacon/email-read/$image",
    ),
    ("https://emditpison.asus.com/abc123", "||emditpison.asus.com^$image"),
    ("https://i.trellomail.com/e/eo", "||i.trellomail.com/e/eo$image"),
    (
        "https://bitbucket.org/account/notifications/mark-read/abc123",
        "||bitbucket.org/account/notifications/mark-read/$image",
    ),
    ("https://clicks.att.com/OCT/eTrac?EMAIL_ID=abc123", "||clicks.att.com/OCT/eTrac?EMAIL_ID=$image"),
    ("https://dealer.autoalert.com/email/tracking/open", "||dealer.autoalert.com/email/tracking/open$image"),
    ("https://fzlnk.com/AutoAlertEmailHandler.ashx", "||fzlnk.com/AutoAlertEmailHandler.ashx$image"),
    ("https://openrate.aweber.com/abc123", "||openrate.aweber.com^$image"),
    ("https://app.bentonow.com/ahoy/messages/abc123", "||app.bentonow.com/ahoy/messages/$image"),
    ("https://track.bentonow.com/tracking/emails/abc123", "||track.bentonow.com/tracking/emails/$image"),
    ("https://bl-1.com/abc123", "||bl-1.com^$image"),
    ("https://bazaarvoice.com/a.gif", "||bazaarvoice.com/a.gif$image"),
    ("https://clicks.bisonapp.com/abc123", "||clicks.bisonapp.com^$image"),
    ("https://px1.bandsintown.com/abc123", "||px1.bandsintown.com^$image"),
    ("https://bmetrack.com/c/o", "||bmetrack.com/c/o$image"),
    ("https://support.planetary.org/site/PixelServer", "||support.planetary.org/site/PixelServer$image"),
    ("https://mail.sender.example/smtp.mailopen?id=abc123", "/smtp.mailopen?id=$image"),
    ("https://cdn.us1.exponea.com/x1/open", "||cdn.us1.exponea.com/*/open$image"),
    ("https://getblueshift.com/track", "||getblueshift.com/track$image"),
    (
        "https://britishairways.com/cms/global/assets/images/global/email_images/structural/primary1px.gif",
        "||britishairways.com/cms/global/assets/images/global/email_images/structural/primary1px.gif$image",
    ),
    ("https://bixel.io/abc123", "||bixel.io^$image"),
    ("https://mailstat.us/tr", "||mailstat.us/tr$image"),
    ("https://boots.com/rts/open.aspx", "||boots.com/rts/open.aspx$image"),
    ("https://boxbe.com/stfopen", "||boxbe.com/stfopen$image"),
    ("https://browserstack.com/images/mail/track-open", "||browserstack.com/images/mail/track-open$image"),
    ("https://tx.buzzstream.com/abc123", "||tx.buzzstream.com^$image"),
    ("https://trk.cp20.com/open/abc123", "||trk.cp20.com/open/$image"),
    ("https://mail.sender.example/rts/open.aspx?tp=abc123", "/rts/open.aspx?tp=$image"),
    ("https://t.churnzero.net/ss/o/abc123", "||t.churnzero.net/ss/o/$image"),
    ("https://email.circleci.com/o/abc123", "||email.circleci.com/o/$image"),
    ("https://tracking.cirrusinsight.com/abc123", "||tracking.cirrusinsight.com^$image"),
    ("https://mail.sender.example/email/track?a=abc123", "/email/track?a=$image"),
    ("https://inthemoon.com/r2.php", "||inthemoon.com/r2.php$image"),
    ("https://pixel.watch/abc123", "||pixel.watch^$image"),
    ("https://app.clio.com/tracking_pixel", "||app.clio.com/tracking_pixel$image"),
    ("https://close.io/email_opened", "||close.io/email_opened$image"),
    ("https://close.com/email_opened", "||close.com/email_opened$image"),
    ("https://cloudhq.io/mail_track", "||cloudhq.io/mail_track$image"),
    ("https://cstrk.net/imp.aspx?l=abc123", "||cstrk.net/imp.aspx?l=$image"),
    ("https://connequitymailer.com/open/abc123", "||connequitymailer.com/open/$image"),
    ("https://aktuell.conrad.de/g.html", "||aktuell.conrad.de/g.html$image"),
    ("https://contactmonkey.com/api/v1/tracker", "||contactmonkey.com/api/v1/tracker$image"),
    ("https://prosperworks.com/tp/t", "||prosperworks.com/tp/t$image"),
    ("https://mail.sender.example/o.aspx?t=abc123", "/o.aspx?t=$image"),
    ("https://mailer.creditmantri.com/t/abc123", "||mailer.creditmantri.com/t/$image"),
    ("https://portal.criticalimpact.com/c2/abc123", "||portal.criticalimpact.com/c2/$image"),
    ("https://cuenote.jp/c/abc123", "||cuenote.jp/c/$image"),
    ("https://crmf.jp/abc123", "||crmf.jp^$image"),
    ("https://customeriomail.com/e/o", "||customeriomail.com/e/o$image"),
    ("https://track.customer.io/e/o", "||track.customer.io/e/o$image"),
    ("https://app.cyberimpact.com/footer-image", "||app.cyberimpact.com/footer-image$image"),
    ("https://ympxl.com/log.gif", "||ympxl.com/log.gif$image"),
    ("https://openedlog.bdash-cloud.com/opened", "||openedlog.bdash-cloud.com/opened$image"),
    ("https://openedlog.smart-bdash.com/opened", "||openedlog.smart-bdash.com/opened$image"),
    (
        "https://click.xnxxinc.com/campaign/track-email/abc123",
        "||click.xnxxinc.com/campaign/track-email/$image",
    ),
    ("https://click.centraalbeheer.nl/abc123", "||click.centraalbeheer.nl^$image"),
    ("https://e.wehkamp.nl/abc123", "||e.wehkamp.nl^$image"),
    ("https://e.bax-shop.nl/abc123", "||e.bax-shop.nl^$image"),
    ("https://xpostmail.com/abc123", "||xpostmail.com^$image"),
    ("https://enews.itcu.org/op?m=abc123", "||enews.itcu.org/op?m=$image"),
    ("https://r.doorkeeper.jp/x1.png", "||r.doorkeeper.jp/*.png$image"),
    ("https://trackedlink.net/abc123", "||trackedlink.net^$image"),
    ("https://dmtrk.net/abc123", "||dmtrk.net^$image"),
    ("https://email.syntricate.com.au/abc123", "||email.syntricate.com.au^$image"),
    ("https://driftem.com/ltrack", "||driftem.com/ltrack$image"),
    ("https://pixel.massdrop.com/open/pixel.gif", "||pixel.massdrop.com/open/pixel.gif$image"),
    ("https://tracking.dyson.com/t/abc123", "||tracking.dyson.com/t/$image"),
    (
        "https://ebayadservices.com/marketingtracking/v1/impression",
        "||ebayadservices.com/marketingtracking/v1/impression$image",
    ),
    ("https://mail.sender.example/ebsta.gifx1.gif", "ebsta.gif$image"),
    ("https://ebsta.com/r/abc123", "||ebsta.com/r/$image"),
    ("https://epidm.edgesuite.net/abc123", "||epidm.edgesuite.net^$image"),
    ("https://notify.egain.cloud/egain/notify/abc123", "||notify.egain.cloud/egain/notify/$image"),
    ("https://eoapxl.com/abc123", "||eoapxl.com^$image"),
    ("https://my-email-signature.link/abc123", "||my-email-signature.link^$image"),
    ("https://emarsys.com/e2t/o/abc123", "||emarsys.com/e2t/o/$image"),
    ("https://mpse.jp/abc123", "||mpse.jp^$image"),
    ("https://envoke.com/o/abc123", "||envoke.com/o/$image"),
    ("https://accts.epicgames.com/O/abc123", "||accts.epicgames.com/O/$image"),
    ("https://login.dotomi.com/ucm/UCMController", "||login.dotomi.com/ucm/UCMController$image"),
    ("https://email-analytics.morpace.com/abc123", "||email-analytics.morpace.com^$image"),
    (
        "https://esputnik.com/repository/applications/commons/hidden.png",
        "||esputnik.com/repository/applications/commons/hidden.png$image",
    ),
    ("https://ftrans03.com/linktrack/abc123", "||ftrans03.com/linktrack/$image"),
    ("https://eventbrite.com/emails/action", "||eventbrite.com/emails/action$image"),
    ("https://eventsinyourarea.com/track/abc123", "||eventsinyourarea.com/track/$image"),
    ("https://pippio.com/api/sync", "||pippio.com/api/sync$image"),
    ("https://nli.evite.com/imp", "||nli.evite.com/imp$image"),
    ("https://ezyvet.com/email_open_log.php", "||ezyvet.com/email_open_log.php$image"),
    ("https://mail.sender.example/e/eo?_t=abc123", "/e/eo?_t=$image"),
    ("https://api.flatastic-app.com/index.php/img", "||api.flatastic-app.com/index.php/img$image"),
    ("https://flipkart.com/t/open", "||flipkart.com/t/open$image"),
    ("https://formirror.com/open/abc123", "||formirror.com/open/$image"),
    ("https://freelancer.com/1px.gif", "||freelancer.com/1px.gif$image"),
    (
        "https://appinthestore.com/marketing/mail-user-deal/open",
        "||appinthestore.com/marketing/mail-user-deal/open$image",
    ),
    ("https://zen.sr/o", "||zen.sr/o$image"),
    ("https://getbase.com/e1t/o/abc123", "||getbase.com/e1t/o/$image"),
    ("https://email81.com/case", "||email81.com/case$image"),
    ("https://github.com/notifications/beacon/abc123", "||github.com/notifications/beacon/$image"),
    (
        "https://ec2-52-26-194-35.us-west-2.compute.amazonaws.com/abc123",
        "||ec2-52-26-194-35.us-west-2.compute.amazonaws.com^$image",
    ),
    ("https://gml.email/abc123", "||gml.email^$image"),
    ("https://email.cloud.secureclick.net/view?abc123", "||email.cloud.secureclick.net/view?$image"),
    ("https://mail.sender.example/gog-email-tracker-x1.gif", "gog-email-tracker-$image"),
    ("https://google.com/appserve/mkt/img/abc123", "||google.com/appserve/mkt/img/$image"),
    ("https://notifications.google.com/g/img/abc123", "||notifications.google.com/g/img/$image"),
    ("https://youtube.com/gen_204", "||youtube.com/gen_204$image"),
    ("https://notifications.googleapis.com/email/t", "||notifications.googleapis.com/email/t$image"),
    ("https://grammarly.com/open", "||grammarly.com/open$image"),
    ("https://groupon.com/analytic/track.gif?abc123", "||groupon.com/analytic/track.gif?$image"),
    ("https://growthdot.com/api/mail-tracking", "||growthdot.com/api/mail-tracking$image"),
    (
        "https://api.hiretual.com/webhooks/tracking/open/abc123",
        "||api.hiretual.com/webhooks/tracking/open/$image",
    ),
    ("https://trk.homeaway.com/abc123", "||trk.homeaway.com^$image"),
    ("https://hyperhub.com.au/newhub/api/email/track", "||hyperhub.com.au/newhub/api/email/track$image"),
    ("https://click.icptrack.com/icp", "||click.icptrack.com/icp$image"),
    ("https://subscriptions.indeed.com/imgping", "||subscriptions.indeed.com/imgping$image"),
    ("https://tracking.inflection.io/abc123", "||tracking.inflection.io^$image"),
    ("https://mail.sender.example/tracking/1/open/abc123", "/tracking/1/open/$image"),
    ("https://infusionsoft.com/app/emailOpened", "||infusionsoft.com/app/emailOpened$image"),
    ("https://pixel.adsafeprotected.com/abc123", "||pixel.adsafeprotected.com^$image"),
    ("https://via.intercom.io/o", "||via.intercom.io/o$image"),
    (
        "https://is-tracking-pixel-api-prod.appspot.com/abc123",
        "||is-tracking-pixel-api-prod.appspot.com^$image",
    ),
    ("https://expy.jp/c/abc123", "||expy.jp/c/$image"),
    ("https://mail.sender.example/stripe/image?cs_", "/stripe/image?cs_$image"),
    ("https://launchbit.com/taz-pixel", "||launchbit.com/taz-pixel$image"),
    ("https://linkedin.com/emimp/abc123", "||linkedin.com/emimp/$image"),
    (
        "https://em.realtime.email/service/rte?kind=duration",
        "||em.realtime.email/service/rte?kind=duration$image",
    ),
    ("https://ping.answerbook.com/abc123", "||ping.answerbook.com^$image"),
    ("https://keychron.com/_t/open/abc123", "||keychron.com/_t/open/$image"),
    ("https://magento.com/trk", "||magento.com/trk$image"),
    ("https://go.rjmetrics.com/abc123", "||go.rjmetrics.com^$image"),
    (
        "https://tracking.getmailbird.com/OpenTrackingPixel/abc123",
        "||tracking.getmailbird.com/OpenTrackingPixel/$image",
    ),
    ("https://bowtie.mailbutler.io/tracking/hit/abc123", "||bowtie.mailbutler.io/tracking/hit/$image"),
    ("https://mailcastr.com/image/abc123", "||mailcastr.com/image/$image"),
    ("https://mailcoral.com/open", "||mailcoral.com/open$image"),
    ("https://clicks.mlsend.com/abc123", "||clicks.mlsend.com^$image"),
    ("https://mailinifinity.com/ptrack", "||mailinifinity.com/ptrack$image"),
    ("https://w1.mslai.net/prod/open/abc123", "||w1.mslai.net/prod/open/$image"),
    ("https://w1.msstnu.com/prod/open/abc123", "||w1.msstnu.com/prod/open/$image"),
    ("https://getmailspring.com/open", "||getmailspring.com/open$image"),
    ("https://img.secureserver.net/bbimage.aspx", "||img.secureserver.net/bbimage.aspx$image"),
    ("https://mailtag.io/email-event", "||mailtag.io/email-event$image"),
    ("https://mailzter.in/ltrack", "||mailzter.in/ltrack$image"),
    ("https://mail.sender.example/tr/p.gif?abc123", "/tr/p.gif?$image"),
    ("https://enews.zdnet.com/imagelibrary/abc123", "||enews.zdnet.com/imagelibrary/$image"),
    ("https://track.mdrctr.com/track/open/key/abc123", "||track.mdrctr.com/track/open/key/$image"),
    ("https://bmo.mercari.jp/abc123", "||bmo.mercari.jp^$image"),
    ("https://mail.sender.example/o/4/eyJhaSI6", "/o/4/eyJhaSI6$image"),
    ("https://facebook.com/aymt/aa/abc123", "||facebook.com/aymt/aa/$image"),
    ("https://facebook.com/r/v/abc123", "||facebook.com/r/v/$image"),
    ("https://facebook.com/email_open_log_pic.php", "||facebook.com/email_open_log_pic.php$image"),
    ("https://facebookdevelopers.com/trk", "||facebookdevelopers.com/trk$image"),
    ("https://fb.com/trk", "||fb.com/trk$image"),
    ("https://metadata.io/e1t/o/abc123", "||metadata.io/e1t/o/$image"),
    ("https://svc.dynamics.com/t/i/abc123", "||svc.dynamics.com/t/i/$image"),
    ("https://mucp.api.account.microsoft.com/abc123", "||mucp.api.account.microsoft.com^$image"),
    ("https://gridinbound.blob.core.windows.net/abc123", "||gridinbound.blob.core.windows.net^$image"),
    (
        "https://dist.nam.formspro.microsoft.com/api/invite/outbound/abc123",
        "||dist.nam.formspro.microsoft.com/api/invite/outbound/$image",
    ),
    ("https://api.mixpanel.com/tr", "||api.mixpanel.com/tr$image"),
    ("https://tm.moneyforward.com/I/abc123", "||tm.moneyforward.com/I/$image"),
    ("https://e2ma.net/track", "||e2ma.net/track$image"),
    ("https://t.e2ma.net/abc123", "||t.e2ma.net^$image"),
    ("https://nationbuilder.com/r/o", "||nationbuilder.com/r/o$image"),
    ("https://netecart.com/ltrack", "||netecart.com/ltrack$image"),
    ("https://beaconimages.netflix.net/img/abc123", "||beaconimages.netflix.net/img/$image"),
    ("https://nethunt.com/api/v1/track/email/abc123", "||nethunt.com/api/v1/track/email/$image"),
    ("https://newegg.com/mr/x1.gif", "||newegg.com/mr/*.gif$image"),
    ("https://tr.cloudmagic.com/abc123", "||tr.cloudmagic.com^$image"),
    ("https://club-ntt-west.com/cn-w/cmn/img/1.png", "||club-ntt-west.com/cn-w/cmn/img/1.png$image"),
    (
        "https://mail.sender.example/transactional/track/x1?signature=abc123",
        "/transactional/track/*?signature=$image",
    ),
    ("https://openbracket.co/track", "||openbracket.co/track$image"),
    ("https://openwork.jp/log_mail_open_com", "||openwork.jp/log_mail_open_com$image"),
    ("https://track.opicle.com/abc123", "||track.opicle.com^$image"),
    ("https://en25.com/e/abc123", "||en25.com/e/$image"),
    ("https://dynect.net/trk.php", "||dynect.net/trk.php$image"),
    ("https://bm5150.com/t/abc123", "||bm5150.com/t/$image"),
    ("https://bm23.com/t/abc123", "||bm23.com/t/$image"),
    ("https://mail.sender.example/pub/as?_ri_=abc123", "/pub/as?_ri_=$image"),
    ("https://mail.sender.example/e/FooterImages/FooterImage", "/e/FooterImages/FooterImage$image"),
    (
        "https://outmaster.co/mailer/index.php/campaigns/abc123",
        "||outmaster.co/mailer/index.php/campaigns/$image",
    ),
    ("https://outrch.com/api/mailings/opened", "||outrch.com/api/mailings/opened$image"),
    ("https://getoutreach.com/api/mailings/opened", "||getoutreach.com/api/mailings/opened$image"),
    (
        "https://a.science-recruiting.com/api/mailings/opened",
        "||a.science-recruiting.com/api/mailings/opened$image",
    ),
    ("https://email.payback.in/a/abc123", "||email.payback.in/a/$image"),
    ("https://mail.payback.in/tr/abc123", "||mail.payback.in/tr/$image"),
    ("https://paypal-communication.com/O/abc123", "||paypal-communication.com/O/$image"),
    ("https://t.paypal.com/ts?abc123", "||t.paypal.com/ts?$image"),
    ("https://link.datacandy.com/i/abc123", "||link.datacandy.com/i/$image"),
    ("https://trk.paytmemail.com/abc123", "||trk.paytmemail.com^$image"),
    (
        "https://mlapp.flypeach.com/mail/prod/receipt/read.php?id=abc123",
        "||mlapp.flypeach.com/mail/prod/receipt/read.php?id=$image",
    ),
    ("https://mag.flypeach.com/c/abc123", "||mag.flypeach.com/c/$image"),
    ("https://infinite-stream-5194.herokuapp.com/pixel", "||infinite-stream-5194.herokuapp.com/pixel$image"),
    ("https://api.nylas.com/open", "||api.nylas.com/open$image"),
    ("https://playdom.com/g", "||playdom.com/g$image"),
    ("https://polymail.io/v2/z/abc123", "||polymail.io/v2/z/$image"),
    ("https://email.patients.pgsurveying.com/abc123", "||email.patients.pgsurveying.com^$image"),
    ("https://prolificmail.com/ltrack", "||prolificmail.com/ltrack$image"),
    (
        "https://mail.sender.example/WRQualtricsContacts/Watermark.php",
        "/WRQualtricsContacts/Watermark.php$image",
    ),
    ("https://quora.com/qemail/mark_read", "||quora.com/qemail/mark_read$image"),
    ("https://mail.rabobank.nl/public/o/abc123", "||mail.rabobank.nl/public/o/$image"),
    (
        "https://img.travel.rakuten.co.jp/share/mail/img/open/abc123",
        "||img.travel.rakuten.co.jp/share/mail/img/open/$image",
    ),
    ("https://cl.rakuten-bank.co.jp/rw/beacon_", "||cl.rakuten-bank.co.jp/rw/beacon_$image"),
    ("https://cmb.rakuten-sec.co.jp/bin/checker", "||cmb.rakuten-sec.co.jp/bin/checker$image"),
    ("https://replycal.com/home/index/?token", "||replycal.com/home/index/?token$image"),
    ("https://replymsg.com/abc123", "||replymsg.com^$image"),
    ("https://opens.responder.co.il/abc123", "||opens.responder.co.il^$image"),
    ("https://email.rocketbolt.com/o/abc123", "||email.rocketbolt.com/o/$image"),
    ("https://app.rule.io/track/image", "||app.rule.io/track/image$image"),
    ("https://sailthru.com/trk", "||sailthru.com/trk$image"),
    ("https://salesforceiq.com/t.png", "||salesforceiq.com/t.png$image"),
    ("https://app.relateiq.com/t.png", "||app.relateiq.com/t.png$image"),
    ("https://nova.collect.igodigital.com/abc123", "||nova.collect.igodigital.com^$image"),
    ("https://welcome.michaelcassel.com/r/x1/open/1", "||welcome.michaelcassel.com/r/*/open/1$image"),
    ("https://saleshandy.com/web/email/countopened", "||saleshandy.com/web/email/countopened$image"),
    ("https://salesloft.com/email_trackers", "||salesloft.com/email_trackers$image"),
    ("https://mail.sender.example/optiext/optiextension.dll", "/optiext/optiextension.dll$image"),
    ("https://strongview.com/t", "||strongview.com/t$image"),
    ("https://emsecure.net/abc123", "||emsecure.net^$image"),
    ("https://slgnt.eu/abc123", "||slgnt.eu^$image"),
    ("https://slgnt.us/abc123", "||slgnt.us^$image"),
    ("https://ablink.hello.wyze.com/ss/o/abc123", "||ablink.hello.wyze.com/ss/o/$image"),
    ("https://ablink.marketing.li.me/abc123", "||ablink.marketing.li.me^$image"),
    ("https://ablink.rider.li.me/abc123", "||ablink.rider.li.me^$image"),
    ("https://ablink.mail.free-now.com/abc123", "||ablink.mail.free-now.com^$image"),
    ("https://ablink.email.etsy.com/abc123", "||ablink.email.etsy.com^$image"),
    ("https://ablink.comms.trainline.com/abc123", "||ablink.comms.trainline.com^$image"),
    ("https://ablink.emails.just-eat.co.uk/abc123", "||ablink.emails.just-eat.co.uk^$image"),
    ("https://ablink.mail.delosdestinations.com/abc123", "||ablink.mail.delosdestinations.com^$image"),
    ("https://ablink.m1.cratejoy.com/abc123", "||ablink.m1.cratejoy.com^$image"),
    ("https://sendgrid.net/trk", "||sendgrid.net/trk$image"),
    ("https://sendgrid.com/trk", "||sendgrid.com/trk$image"),
    ("https://sendgrid.com/mpss/o", "||sendgrid.com/mpss/o$image"),
    ("https://sendgrid.com/ss/o", "||sendgrid.com/ss/o$image"),
    ("https://stat-pulse.com/abc123", "||stat-pulse.com^$image"),
    ("https://mail.sender.example/tools/emails/open/abc123", "/tools/emails/open/$image"),
    ("https://signl.live/tracker", "||signl.live/tracker$image"),
    ("https://smore.com/app/reporting/pixel/abc123", "||smore.com/app/reporting/pixel/$image"),
    ("https://mail.sender.example/track/open/v2-abc123", "/track/open/v2-$image"),
    ("https://mailer.codepen.io/q", "||mailer.codepen.io/q$image"),
    ("https://sptrack.trello.com/q/abc123", "||sptrack.trello.com/q/$image"),
    ("https://track.sp.actionkit.com/q/abc123", "||track.sp.actionkit.com/q/$image"),
    ("https://click.email.active.com/q/abc123", "||click.email.active.com/q/$image"),
    ("https://x.getclockwise.com/q/abc123", "||x.getclockwise.com/q/$image"),
    ("https://t.drop.com/q/abc123", "||t.drop.com/q/$image"),
    ("https://sp.trk.homeaway.com/q/abc123", "||sp.trk.homeaway.com/q/$image"),
    ("https://click.uber.com/q/abc123", "||click.uber.com/q/$image"),
    ("https://opens.zapier.com/q/abc123", "||opens.zapier.com/q/$image"),
    ("https://sparkpost.com/q/abc123", "||sparkpost.com/q/$image"),
    ("https://go.sparkpostmail.com/q/abc123", "||go.sparkpostmail.com/q/$image"),
    ("https://post.spmailtechno.com/q/abc123", "||post.spmailtechno.com/q/$image"),
    ("https://sparkpostmail2.com/abc123", "||sparkpostmail2.com^$image"),
    ("https://trk-2.net/ouv", "||trk-2.net/ouv$image"),
    ("https://tracking-prod.sprinklr.com/abc123", "||tracking-prod.sprinklr.com^$image"),
    ("https://mail.sender.example/ctt/mktOpen?abc123", "/ctt/mktOpen?$image"),
    ("https://store.steampowered.com/emi/abc123", "||store.steampowered.com/emi/$image"),
    (
        "https://step-coupon.com/review_mail_read_status.html",
        "||step-coupon.com/review_mail_read_status.html$image",
    ),
    ("https://engage.squarespace-mail.com/v2/a.gif", "||engage.squarespace-mail.com/v2/a.gif$image"),
    ("https://taguchimail.com/i/app", "||taguchimail.com/i/app$image"),
    ("https://tatadocomobusiness.com/rts/abc123", "||tatadocomobusiness.com/rts/$image"),
    (
        "https://mail.sender.example/tj_mailer_opened_count_all.phpx1.gif",
        "tj_mailer_opened_count_all.php$image",
    ),
    (
        "https://tapi.telstra.com/presentation/v1/notification-mngmt/delivery-status-tracker",
        "||tapi.telstra.com/presentation/v1/notification-mngmt/delivery-status-tracker$image",
    ),
    ("https://data-cdn.theatlantic.com/email.gif", "||data-cdn.theatlantic.com/email.gif$image"),
    (
        "https://d2uowlhdj52lqx.cloudfront.net/emailbeacon.png",
        "||d2uowlhdj52lqx.cloudfront.net/emailbeacon.png$image",
    ),
    ("https://thetopinbox.com/track/abc123", "||thetopinbox.com/track/$image"),
    ("https://na5.thunderhead.com/abc123", "||na5.thunderhead.com^$image"),
    ("https://go.toutapp.com/abc123", "||go.toutapp.com^$image"),
    ("https://mail.sender.example/public/o/x1/t.gif", "/public/o/*/t.gif$image"),
    (
        "https://analytics.trustyou.com/surveys/api/mailing/events/invitation/opened",
        "||analytics.trustyou.com/surveys/api/mailing/events/invitation/opened$image",
    ),
    ("https://api.segment.io/v1/pixel/track", "||api.segment.io/v1/pixel/track$image"),
    ("https://spade.twitch.tv/track", "||spade.twitch.tv/track$image"),
    ("https://twitter.com/scribe/ibis", "||twitter.com/scribe/ibis$image"),
    ("https://email.unsplash.com/o/abc123", "||email.unsplash.com/o/$image"),
    ("https://efeedbacktrk.com/abc123", "||efeedbacktrk.com^$image"),
    ("https://post-images.com/amy/open.action", "||post-images.com/amy/open.action$image"),
    ("https://x.user.com/emails/open/abc123", "||user.com/emails/open/$image"),
    ("https://x.returnpath.net/pixel.gif", "||returnpath.net/pixel.gif$image"),
    ("https://e.varibase.com/mail/MOS", "||e.varibase.com/mail/MOS$image"),
    ("https://tracking.vcommission.com/abc123", "||tracking.vcommission.com^$image"),
    (
        "https://verizon.com/econtact/ecrm/EmailTracking.serv",
        "||verizon.com/econtact/ecrm/EmailTracking.serv$image",
    ),
    ("https://vinlens.com/email.ashx?c=abc123", "||vinlens.com/email.ashx?c=$image"),
    (
        "https://w-mt.co/g/rptrcks/comm-smart-app/services/tracking/openTracker",
        "||w-mt.co/g/rptrcks/comm-smart-app/services/tracking/openTracker$image",
    ),
    (
        "https://tracking.weareweb.in/index.php/campaigns/abc123",
        "||tracking.weareweb.in/index.php/campaigns/$image",
    ),
    ("https://webtrekk.net/abc123", "||webtrekk.net^$image"),
    ("https://windscribe.com/pixel", "||windscribe.com/pixel$image"),
    ("https://wildapricot.com/o/abc123", "||wildapricot.com/o/$image"),
    ("https://wildapricot.org/emailtracker", "||wildapricot.org/emailtracker$image"),
    ("https://mail.sender.example/EmailTracker/EmailTracker.ashx", "/EmailTracker/EmailTracker.ashx$image"),
    ("https://links.transferwise.com/track/abc123", "||links.transferwise.com/track/$image"),
    ("https://wish.com/email-beacon.png", "||wish.com/email-beacon.png$image"),
    ("https://shoutout.wix.com/abc123", "||shoutout.wix.com^$image"),
    ("https://pixel.wp.com/t.gif", "||pixel.wp.com/t.gif$image"),
    ("https://a.analytics.yahoo.com/p.pl", "||a.analytics.yahoo.com/p.pl$image"),
    ("https://dsb.yahoo.co.jp/api/v1/clear.gif", "||dsb.yahoo.co.jp/api/v1/clear.gif$image"),
    ("https://mail.sender.example/yamm-track.appspotx1.gif", "yamm-track.appspot$image"),
    ("https://mail.sender.example/t/teo?ref=abc123", "/t/teo?ref=$image"),
    ("https://yesware.com/trk", "||yesware.com/trk$image"),
    ("https://futuresimple.com/api/v1/sprite.png", "||futuresimple.com/api/v1/sprite.png$image"),
    ("https://e.newsletters.cnn.com/open/abc123", "||e.newsletters.cnn.com/open/$image"),
    ("https://e.email.consumerreports.org/open/abc123", "||e.email.consumerreports.org/open/$image"),
]
EMAIL_ALLOWED = [
    "https://news.us3.list-manage.com/subscribe?u=0a1b2c&id=3d4e5f",
    "https://news.us3.list-manage.com/track/click?u=0a1b2c&id=1&e=2",
    "https://us3.campaign-archive.com/?u=0a1b2c&id=3d4e5f",
    "https://trk.klclick.com/ls/click?upn=8DVaPYyYoG9qGL",
    "https://u1234.ct.sendgrid.net/ls/click?upn=abc",
    "https://www.klaviyo.com/",
    "https://email.mg.shop.example/c/eJwlzEEOgjAQBdCr",
    "https://abcd1234.r.us-east-1.awstrack.me/L0/https:%2F%2Fshop.example%2F/1/0100018abc/xyz=",
    "https://www.hubspot.com/",
    "https://d2v9Zz04.na1.hubspotlinks.com/Ctc/abc",
    "https://click.e.shop.example/?qs=abc",
    "https://r.email.shop.example/tr/cl/8Va9zm620jliLZ8Ib48PeJjjd",
    "https://img.email.shop.example/im/2827948/98153d34.png?e=XREzmzn",
    "http://amxe.net/qp1sq8qr/s_uxz7dfiv/files/Twitter_Social_Icon_Square_Color.png",
    "https://amxe.net/uxz7dfiv-o6cz2uk0-ysbpy1n6-13it",
    "http://amxe.net/qp1sq8qr/s_uxz7dfiv/files/header-top-line.gif",
    "https://r20.rs6.net/tn.jsp?f=001abc&c=xyz",
    "https://www.campaignmonitor.com/",
    "https://files.crsend.com/121000/121070/images/logo.png",
    "https://newsletter.inxmail.de/resc/1/logo.png",
    "https://ts-svc.inxserver.com/transparent.gif",
    "https://newsletter.club.example/click.html?x=a62e&lc=abc",
    "https://someone.substack.com/p/a-post",
    "https://substackcdn.com/image/fetch/w_1456/abc.png",
    "https://click.pstmrk.it/3s/shop.example%2F/abc/def",
    "https://convertkit.com/",
    "https://epost.shop.example/go/zsb7v32nb0lmu9qwyy2pqw7tqk0gf5i0lt68soosw47p/246",
    "https://news.club.example/lists/?p=subscribe",
    "https://news.charity.example/go/13/5812L1QV-4160U6X3-416BL8",
    "https://news.charity.example/assets/bm/13/logo.gif",
    "https://www.litmus.com/",
    "https://mailtrack.io/en/",
    "https://www.streak.com/",
    "https://www.yesware.com/",
    "https://app.mixmax.com/dashboard",
    "https://superhuman.com/",
]

# Pages that must keep working: the vendors' own sites, apps, click links and content images.
NOT_BLOCKED_EXTRA = [
    "https://www.google.com/",
    "https://mail.google.com/mail/u/0/",
    "https://www.youtube.com/watch?v=abc",
    "https://www.bing.com/",
    "https://www.amazon.de/",
    "https://sendgrid.com/",
    "https://mailchimp.com/",
]


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine.from_files([FILTERS / f"{name}.txt" for name in BUNDLED])


def rule_lines(name: str) -> list[tuple[int, str]]:
    lines = (FILTERS / f"{name}.txt").read_text(encoding="utf-8").splitlines()
    return [(i, line) for i, line in enumerate(lines, 1) if line.strip() and not line.startswith(("!", "["))]


@pytest.mark.parametrize("name", BUNDLED)
def test_list_header_and_every_rule_valid(name: str) -> None:
    text = (FILTERS / f"{name}.txt").read_text(encoding="utf-8")
    lines = text.splitlines()
    assert lines[0].startswith("[Adblock Plus")
    assert any(line.startswith("! Title: ") for line in lines[:5])
    assert any(line.startswith("! Expires: ") for line in lines[:8])
    for i, line in rule_lines(name):
        assert validate(line) is None, f"{name}:{i}: {line}: {validate(line)}"
    engine = Engine.from_text(text, name=name)
    assert engine.errors == []
    assert engine.stats[name].skipped == {}
    assert engine.stats[name].rules == len(rule_lines(name))


@pytest.mark.parametrize("name", BUNDLED)
def test_every_rule_has_a_vendor_comment_before_it(name: str) -> None:
    lines = (FILTERS / f"{name}.txt").read_text(encoding="utf-8").splitlines()
    for i, _line in rule_lines(name):
        above = lines[: i - 1]
        # Walk up over the rules of the same group to the comment that names the vendor.
        j = len(above) - 1
        while j >= 0 and above[j] and not above[j].startswith("!"):
            j -= 1
        assert j >= 0 and above[j].startswith("! ") and len(above[j]) > 3, f"{name}:{i}: no vendor comment"


@pytest.mark.parametrize(("url", "rule"), ADS_BLOCKED)
def test_ads_rule_blocks(engine: Engine, url: str, rule: str) -> None:
    v = engine.check(url)
    assert v.blocked, url
    assert (v.rule, v.list) == (rule, "pixelguard-ads")


@pytest.mark.parametrize(("url", "rule"), EMAIL_BLOCKED)
def test_email_rule_blocks(engine: Engine, url: str, rule: str) -> None:
    v = engine.check(url, resource_type="image")
    assert v.blocked, url
    assert (v.rule, v.list) == (rule, "pixelguard-email")


@pytest.mark.parametrize("url", ADS_ALLOWED + EMAIL_ALLOWED + NOT_BLOCKED_EXTRA)
@pytest.mark.parametrize("rtype", [None, "image", "document", "script"])
def test_vendor_services_keep_working(engine: Engine, url: str, rtype: str | None) -> None:
    v = engine.check(url, resource_type=rtype)
    assert not v.blocked, f"{url} ({rtype}) blocked by {v.rule} ({v.list}:{v.line})"


def test_click_links_of_image_only_rules_are_not_blocked(engine: Engine) -> None:
    # $image rules are image-only on purpose: the same paths are the email's links.
    for url, rule in EMAIL_BLOCKED:
        if rule.endswith("$image"):
            assert not engine.check(url, resource_type="document").blocked, (url, rule)


@pytest.mark.parametrize("name", BUNDLED)
def test_every_rule_line_is_exercised_by_the_table(engine: Engine, name: str) -> None:
    table = ADS_BLOCKED if name == "pixelguard-ads" else EMAIL_BLOCKED
    rtype = None if name == "pixelguard-ads" else "image"
    hit = set()
    for url, _ in table:
        v = engine.check(url, resource_type=rtype)
        if v.blocked and v.list == name:
            hit.add(v.line)
    missing = [f"{name}:{i}: {line}" for i, line in rule_lines(name) if i not in hit]
    assert not missing, "rules without a test URL:\n" + "\n".join(missing)


def test_user_template_has_no_active_rules() -> None:
    path = Path(FILTERS / "user.txt")
    assert path.is_file()
    assert rule_lines("user") == []
